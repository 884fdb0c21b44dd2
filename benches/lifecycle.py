#!/usr/bin/env python3
"""Times a whole short-lived client lifecycle (connect, create a 10G sparse
raw image, disconnect, exit) through:

  glusterfs-rs   the one-shot CLI: glusterfs-rs truncate -s 10G gluster://...
  libgfapi       qemu-img 7.2 create -f raw gluster://... (Debian 12 qemu's
                 gluster driver, fetched by benches/libgfapi-qemu.sh)
  fuse-official  qemu-img create on an already-mounted official client
  mount+create+umount (official)  the whole lifecycle on the official client

Prints a markdown table (and writes it with --out). A benchmark, not a
test: nothing here fails on timing. Needs integration/gluster-env.sh setup.
"""
import argparse, os, statistics, subprocess, sys, time, uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = os.environ.get("GLUSTERFS_RS_TEST_HOST", "127.0.0.2")
MNT = os.environ.get("GLUSTERFS_RS_TEST_MNT", "/mnt/glusterfs-rs-test")


def timed(cmd, **kw):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    return time.perf_counter() - t


def stats(xs):
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
    return {"n": len(xs), "min": xs[0], "median": statistics.median(xs), "p90": p90, "max": xs[-1]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--volume", default="grs1")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--libgfapi-runs", type=int, default=3)
    ap.add_argument("--out")
    a = ap.parse_args()
    vol = a.volume
    binary = os.path.join(REPO, "target/release/glusterfs-rs")
    subprocess.run(["cargo", "build", "--release", "-q", "--bins"], cwd=REPO, check=True)
    official = os.path.join(MNT, f"official-{vol}")
    os.makedirs(os.path.join(official, "bench-lifecycle"), exist_ok=True)
    rows = {}

    def name():
        return f"bench-lifecycle/{uuid.uuid4().hex}.raw"

    rows["glusterfs-rs one-shot CLI (truncate -s 10G)"] = stats(
        [timed([binary, "truncate", "-s", "10G", f"gluster://{HOST}/{vol}/{name()}"]) for _ in range(a.runs)])

    qimg = subprocess.run([os.path.join(REPO, "benches/libgfapi-qemu.sh"), "path"],
                          check=True, capture_output=True, text=True).stdout.strip()
    rows["libgfapi: qemu-img 7.2 create gluster://"] = stats(
        [timed([qimg, "create", "-f", "raw", f"gluster://{HOST}/{vol}/{name()}", "10G"])
         for _ in range(a.libgfapi_runs)])

    rows["official FUSE, mounted: qemu-img create"] = stats(
        [timed(["qemu-img", "create", "-f", "raw", os.path.join(official, name()), "10G"]) for _ in range(a.runs)])

    mp = os.path.join(MNT, "bench-lifecycle-official")
    os.makedirs(mp, exist_ok=True)

    def official_cycle():
        t = time.perf_counter()
        subprocess.run(["mount", "-t", "glusterfs", f"{HOST}:/{vol}", mp], check=True)
        subprocess.run(["qemu-img", "create", "-f", "raw", os.path.join(mp, name()), "10G"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["umount", mp], check=True)
        return time.perf_counter() - t

    rows["official FUSE: mount + qemu-img create + umount"] = stats(
        [official_cycle() for _ in range(min(a.runs, 10))])

    ours = rows["glusterfs-rs one-shot CLI (truncate -s 10G)"]["median"]
    lines = [
        f"Lifecycle benchmark, volume `{vol}` (1 brick on {HOST}), {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores, kernel {os.uname().release}.",
        "",
        "| client | runs | min | median | p90 | max | median vs glusterfs-rs |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, s in rows.items():
        lines.append(f"| {k} | {s['n']} | {s['min']*1000:.2f} ms | {s['median']*1000:.2f} ms | "
                     f"{s['p90']*1000:.2f} ms | {s['max']*1000:.2f} ms | {s['median']/ours:.1f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    subprocess.run(["rm", "-rf", os.path.join(official, "bench-lifecycle")])


if __name__ == "__main__":
    sys.exit(main())
