#!/usr/bin/env bash
# benches/libgfapi-qemu.sh: a qemu-img with the gluster:// block driver
# (libgfapi), the baseline glusterfs-rs is measured against.
#
# The machine's own qemu-img (10.0 from bookworm-backports) has no gluster
# driver ("Unable to load module gluster"; note that it still exits 0).
# Debian 12's qemu 7.2 has it, in qemu-block-extra. This script downloads
# qemu-utils and qemu-block-extra of the same bookworm 7.2 version with
# `apt-get download`, unpacks them with `dpkg-deb -x` into a cache dir
# (nothing is installed system-wide, except missing runtime libraries, which
# are installed with apt-get), and generates a wrapper that runs that
# qemu-img with QEMU_MODULE_DIR pointing at the unpacked block modules.
#
# Usage: benches/libgfapi-qemu.sh [SUBCOMMAND]
#   setup (default)  fetch and unpack if needed; print the command prefix
#   prefix           same as setup
#   path             set up if needed; print the wrapper's path
#   bench [N]        time `qemu-img create -f raw gluster://127.0.0.2/grs1/.. 1G`
#                    and the same on the official FUSE mount of grs1, N times
#                    each (default 3); needs integration/gluster-env.sh
#
# Environment:
#   GLUSTERFS_RS_BENCH_DIR  base dir (/var/tmp/glusterfs-rs-bench); the cache
#                           is $GLUSTERFS_RS_BENCH_DIR/qemu72
#   QEMU72_VERSION          Debian version to use (default: the newest 1:7.2
#                           version apt knows for both packages)
#   GLUSTERFS_RS_TEST_MNT   as for integration/gluster-env.sh
#
# Known: every libgfapi client teardown (glfs_fini) waits ~10 s, so one
# `qemu-img create gluster://...` takes 10-20 s where the same on a FUSE
# mount takes milliseconds. That is the point of the benchmark.

set -euo pipefail
export PATH="${PATH:-/usr/bin:/bin}:/usr/sbin:/sbin"
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$SCRIPT_DIR")
readonly SCRIPT_DIR REPO_DIR
readonly BENCH_DIR="${GLUSTERFS_RS_BENCH_DIR:-/var/tmp/glusterfs-rs-bench}"
readonly CACHE="$BENCH_DIR/qemu72"
readonly ROOT="$CACHE/root"       # dpkg-deb -x target
readonly DEBS="$CACHE/debs"       # downloaded .deb files
readonly WRAPPER="$CACHE/qemu-img-gluster"
readonly STAMP="$CACHE/.ready"    # holds the version once set up
readonly HOST=127.0.0.2
readonly TEST_MNT="${GLUSTERFS_RS_TEST_MNT:-/mnt/glusterfs-rs-test}"
readonly APT_OPTS=(-o APT::Sandbox::User=root)  # root-owned cache dir

log() { printf '[libgfapi-qemu] %s\n' "$*" >&2; }
die() { printf '[libgfapi-qemu] ERROR: %s\n' "$*" >&2; exit 1; }

# versions PKG: the 1:7.2 versions apt knows for PKG.
versions() {
    apt-cache madison "$1" 2>/dev/null | awk -F '|' '{gsub(/ /, "", $2); print $2}' \
        | grep '^1:7\.2+' | sort -u || true
}

# pick_version: the newest 1:7.2 version available for both packages.
pick_version() {
    if [[ -n ${QEMU72_VERSION:-} ]]; then
        echo "$QEMU72_VERSION"
        return
    fi
    local v
    v=$(comm -12 <(versions qemu-utils) <(versions qemu-block-extra) | sort -V | tail -n 1)
    if [[ -z $v ]]; then
        log "no qemu 7.2 in apt's lists; apt-get update"
        apt-get update >&2
        v=$(comm -12 <(versions qemu-utils) <(versions qemu-block-extra) | sort -V | tail -n 1)
    fi
    [[ -n $v ]] || die "apt knows no bookworm qemu 7.2 (qemu-utils and qemu-block-extra)"
    echo "$v"
}

module_dir() {
    local so
    so=$(find "$ROOT" -name block-gluster.so -print -quit 2>/dev/null)
    [[ -n $so ]] || return 1
    dirname "$so"
}

# missing_libs: shared libraries qemu-img or the gluster module cannot find.
missing_libs() {
    local mdir
    mdir=$(module_dir) || { echo "block-gluster.so"; return; }
    ldd "$ROOT/usr/bin/qemu-img" "$mdir/block-gluster.so" 2>&1 | awk '/not found/ {print $1}' | sort -u
}

is_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# install_runtime_deps VERSION: install the libraries the unpacked qemu-img
# needs (the Depends of qemu-utils, and libgfapi0 for the gluster module)
# that the machine lacks. qemu packages themselves are left out.
install_runtime_deps() {
    local deps=() dep name
    local IFS=','
    for dep in $(dpkg-deb -f "$DEBS"/qemu-utils_*.deb Depends) libgfapi0; do
        # "a (>= 1) | b" -> "a"; architecture qualifiers dropped.
        name=$(sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g' <<<"$dep")
        [[ -n $name && $name != qemu-* ]] || continue
        is_installed "$name" || deps+=("$name")
    done
    unset IFS
    if ((${#deps[@]} > 0)); then
        log "installing runtime libraries: ${deps[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${deps[@]}" </dev/null >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${deps[@]}" </dev/null >&2; }
    fi
}

write_wrapper() {
    local version=$1 mdir
    mdir=$(module_dir) || die "block-gluster.so not found under $ROOT"
    cat >"$WRAPPER.tmp" <<EOF
#!/bin/sh
# Generated by benches/libgfapi-qemu.sh: Debian's qemu-img $version with the
# gluster:// block driver, unpacked in $ROOT (not installed).
QEMU_MODULE_DIR='$mdir'
export QEMU_MODULE_DIR
exec '$ROOT/usr/bin/qemu-img' "\$@"
EOF
    chmod +x "$WRAPPER.tmp"
    mv "$WRAPPER.tmp" "$WRAPPER"
}

is_ready() {
    [[ -f $STAMP && -x $WRAPPER && -x $ROOT/usr/bin/qemu-img ]] || return 1
    if [[ -n ${QEMU72_VERSION:-} && $(cat "$STAMP") != "$QEMU72_VERSION" ]]; then return 1; fi
    [[ -z $(missing_libs) ]]
}

cmd_setup() {
    if is_ready; then
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || die "must run as root (apt-get)"
    command -v apt-get >/dev/null || die "needs apt-get (Debian 12)"
    local version
    version=$(pick_version)
    log "using qemu $version from Debian 12"
    rm -rf "$DEBS" "$ROOT" "$STAMP"
    mkdir -p "$DEBS" "$ROOT"
    (cd "$DEBS" && apt-get "${APT_OPTS[@]}" download \
        "qemu-utils=$version" "qemu-block-extra=$version" >&2) \
        || { apt-get update >&2 && (cd "$DEBS" && apt-get "${APT_OPTS[@]}" download \
            "qemu-utils=$version" "qemu-block-extra=$version" >&2); } \
        || die "apt-get download of qemu $version failed"
    local deb
    for deb in "$DEBS"/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
    install_runtime_deps
    local missing
    missing=$(missing_libs)
    [[ -z $missing ]] || die "still missing libraries: $(paste -sd ' ' - <<<"$missing")"
    write_wrapper "$version"
    "$WRAPPER" --version >/dev/null || die "$WRAPPER does not run"
    echo "$version" >"$STAMP"
    log "ready: $("$WRAPPER" --version | head -n 1)"
}

cmd_prefix() {
    cmd_setup
    printf 'env QEMU_MODULE_DIR=%s %s\n' "$(module_dir)" "$ROOT/usr/bin/qemu-img"
}

cmd_path() {
    cmd_setup
    echo "$WRAPPER"
}

# now: wall clock in seconds with microseconds.
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

cmd_bench() {
    local n=${1:-3} i t0 t1 name official sys_qemu
    cmd_setup
    official="$TEST_MNT/official-grs1"
    "$REPO_DIR/integration/gluster-env.sh" volumes grs1 >&2
    "$REPO_DIR/integration/gluster-env.sh" official-mount grs1 "$official" >&2
    sys_qemu=$(command -v qemu-img || echo "$WRAPPER")
    local logf="$BENCH_DIR/libgfapi-qemu-bench.log"
    : >"$logf"

    # The wrapper's qemu-img exits 0 even when it could not load the
    # driver, so check the result through the official mount.
    name="bench-check-$$.raw"
    "$WRAPPER" create -f raw "gluster://$HOST/grs1/$name" 1G >>"$logf" 2>&1 \
        || die "qemu-img create via gluster:// failed (see $logf)"
    [[ $(stat -c %s "$official/$name") == 1073741824 ]] \
        || die "gluster:// create did not make a 1 GiB file (see $logf)"
    rm -f "$official/$name"

    echo "qemu-img $(cat "$STAMP") via libgfapi (gluster://$HOST/grs1), create -f raw 1G:"
    for ((i = 1; i <= n; i++)); do
        name="bench-gfapi-$$-$i.raw"
        t0=$(now)
        "$WRAPPER" create -f raw "gluster://$HOST/grs1/$name" 1G >>"$logf" 2>&1
        t1=$(now)
        echo "  run $i: $(elapsed "$t0" "$t1") s"
        rm -f "$official/$name"
    done
    echo "$("$sys_qemu" --version | head -n 1) on the official FUSE mount ($official), create -f raw 1G:"
    for ((i = 1; i <= n; i++)); do
        name="bench-fuse-$$-$i.raw"
        t0=$(now)
        "$sys_qemu" create -f raw "$official/$name" 1G >>"$logf" 2>&1
        t1=$(now)
        echo "  run $i: $(elapsed "$t0" "$t1") s"
        rm -f "$official/$name"
    done
}

main() {
    local cmd=${1:-setup}
    (($# > 0)) && shift
    case "$cmd" in
        setup | prefix) cmd_prefix ;;
        path) cmd_path ;;
        bench) cmd_bench "$@" ;;
        -h | --help | help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0" >&2 ;;
        *) die "unknown subcommand '$cmd' (setup, prefix, path, bench)" ;;
    esac
}

main "$@"
