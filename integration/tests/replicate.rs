//! cluster/replicate against the real server: a brick SIGKILLed under
//! fio's verified direct I/O, on a replica 3, an arbiter and a 2 x 3
//! volume. Nothing may reach fio, shd must find everything to heal, and
//! after the heal every copy must be the same with the changelog zeroed,
//! because the official client and shd share these bricks.

use glusterfs_rs_integration::{require_env, run_ok, TestEnv};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn gluster(args: &[&str]) -> String {
    run_ok(Command::new("gluster").arg("--mode=script").args(args))
}

/// The pid of the brick process serving `brick` of `vol`.
fn brick_pid(vol: &str, brick: &Path) -> i32 {
    let xml = gluster(&["volume", "status", vol, "--xml"]);
    let want = format!("<path>{}</path>", brick.display());
    xml.split("<node>")
        .find(|n| n.contains(&want))
        .and_then(|n| n.split("<pid>").nth(1))
        .and_then(|s| s.split('<').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid for brick {} in:\n{xml}", brick.display()))
}

fn kill_brick(vol: &str, brick: &Path) {
    let pid = brick_pid(vol, brick);
    // SAFETY: signalling the test volume's brick process.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let t = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `gluster volume heal VOL info` lists nothing.
fn wait_healed(vol: &str) {
    let t = Instant::now();
    loop {
        let out = gluster(&["volume", "heal", vol, "info"]);
        let pending: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("Number of entries:") && !l.ends_with(": 0"))
            .collect();
        let all_up = !out.contains("Transport endpoint is not connected");
        if pending.is_empty() && all_up {
            return;
        }
        if t.elapsed() > Duration::from_secs(120) {
            panic!("{vol}: heal did not finish in 120 s:\n{out}");
        }
        if t.elapsed().as_secs().is_multiple_of(10) {
            let _ = Command::new("gluster")
                .args(["--mode=script", "volume", "heal", vol])
                .output();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Every `trusted.afr.*` value of `p` (a brick path), hex.
fn afr_keys(p: &Path) -> Vec<(String, String)> {
    let out = Command::new("getfattr")
        .args(["-d", "-m", "trusted.afr.", "-e", "hex", "--absolute-names"])
        .arg(p)
        .output()
        .expect("getfattr");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The replica sets of `env`'s bricks (3 bricks each, in order), and
/// which member is an arbiter.
fn replica_sets(env: &TestEnv, arbiter: bool) -> Vec<Vec<(PathBuf, bool)>> {
    env.bricks
        .chunks(3)
        .map(|c| {
            c.iter()
                .enumerate()
                .map(|(i, b)| (b.clone(), arbiter && i == 2))
                .collect()
        })
        .collect()
}

/// After the heal: every file under `dir` is the same on the data bricks
/// of its set, empty on the arbiter, and carries no pending changelog.
fn copies_agree(env: &TestEnv, dir: &str, arbiter: bool) -> usize {
    let mut files = 0;
    for set in replica_sets(env, arbiter) {
        let (first, _) = &set[0];
        let Ok(names) = fs::read_dir(first.join(dir)) else {
            continue;
        };
        for name in names {
            let name = name.unwrap().file_name();
            let rel = Path::new(dir).join(&name);
            let reference = fs::read(first.join(&rel)).unwrap();
            files += 1;
            for (b, is_arb) in &set {
                let p = b.join(&rel);
                let meta = fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                if *is_arb {
                    assert_eq!(meta.len(), 0, "arbiter holds data: {}", p.display());
                } else {
                    assert!(
                        fs::read(&p).unwrap() == reference,
                        "{} differs from {}",
                        p.display(),
                        first.join(&rel).display()
                    );
                }
                for (k, v) in afr_keys(&p) {
                    assert!(
                        v.trim_start_matches("0x").chars().all(|c| c == '0'),
                        "{}: {k}={v} after heal",
                        p.display()
                    );
                }
            }
        }
    }
    files
}

/// fio with crc32c verification and direct I/O on our mount of `vol`;
/// `victim` (a brick index) is SIGKILLed while it writes and restarted
/// two seconds later.
fn survives_brick_kill(vol: &str, victim: usize, arbiter: bool) {
    let env = require_env!(vol);
    let m = env.mount_rs("kill", "");
    let (dir, _) = env.scratch_dir("fio");
    let work = m.dir.join(&dir);
    let fio = Command::new("fio")
        .args([
            "--name=kill",
            "--rw=randwrite",
            "--bs=4k",
            "--size=16m",
            "--numjobs=2",
            "--ioengine=psync",
            "--direct=1",
            "--verify=crc32c",
            "--verify_fatal=1",
            "--do_verify=1",
            "--rate_iops=1500",
        ])
        .arg(format!("--directory={}", work.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fio");
    std::thread::sleep(Duration::from_millis(1500));
    let brick = env.bricks[victim].clone();
    kill_brick(vol, &brick);
    std::thread::sleep(Duration::from_secs(2));
    // The writes went on without the brick, and the good copies say so
    // for shd (pending key of the victim raised on a surviving brick).
    let set = victim / 3 * 3;
    let witness = env.bricks[set..set + 3]
        .iter()
        .filter(|b| **b != brick)
        .flat_map(|b| fs::read_dir(b.join(&dir)).into_iter().flatten().flatten())
        .any(|e| {
            afr_keys(&e.path()).iter().any(|(k, v)| {
                k.ends_with(&format!("-client-{victim}"))
                    && !v.trim_start_matches("0x").chars().all(|c| c == '0')
            })
        });
    assert!(witness, "{vol}: no surviving brick accuses brick {victim}");
    gluster(&["volume", "start", vol, "force"]);
    let out = fio.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "fio failed on {vol} with brick {victim} killed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A second read-back through our mount, now that every brick is up.
    let verify = Command::new("fio")
        .args([
            "--name=kill",
            "--rw=randwrite",
            "--bs=4k",
            "--size=16m",
            "--numjobs=2",
            "--ioengine=psync",
            "--direct=1",
            "--verify=crc32c",
            "--verify_fatal=1",
            "--verify_only",
        ])
        .arg(format!("--directory={}", work.display()))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "read-back failed:\n{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    drop(m); // the last run of writes ends with the mount
    wait_healed(vol);
    let files = copies_agree(&env, &dir, arbiter);
    assert!(files >= 2, "no fio files found on the bricks under {dir}");
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn replica3_data_brick_killed_under_fio() {
    survives_brick_kill("grsrep3", 1, false);
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn arbiter_volume_survives_its_arbiter_and_a_data_brick_dying() {
    survives_brick_kill("grsarb", 2, true);
    survives_brick_kill("grsarb", 0, true);
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn distributed_replicate_survives_a_brick_of_one_set() {
    survives_brick_kill("grsrep2x3", 4, false);
}

/// Unmounting right after a write ends the run of writes first: no file
/// stays marked dirty (shd would list it in `heal info` until it looked).
#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn umount_right_after_writing_leaves_no_dirty_mark() {
    let env = require_env!("grsrepb");
    let m = env.mount_rs("settle", "");
    let (dir, _) = env.scratch_dir("settle");
    fs::write(m.dir.join(&dir).join("f"), vec![7u8; 100_000]).unwrap();
    let pid = m.daemon_pid().expect("daemon pid");
    let out = m.umount();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(t.elapsed() < Duration::from_secs(10), "daemon still alive");
        std::thread::sleep(Duration::from_millis(5));
    }
    for b in &env.bricks {
        let p = b.join(&dir).join("f");
        assert_eq!(fs::read(&p).unwrap().len(), 100_000, "{}", p.display());
        for (k, v) in afr_keys(&p) {
            assert!(
                v.trim_start_matches("0x").chars().all(|c| c == '0'),
                "{}: {k}={v} right after umount",
                p.display()
            );
        }
    }
}
