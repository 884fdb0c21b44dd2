//! Shared helpers for tests against a real GlusterFS server. The server
//! and volumes are started by `integration/gluster-env.sh setup`, which
//! prints the environment these helpers read.

use client::{Ctx, Gfid, Iatt, Volume, VolumeOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the test volume lives.
#[derive(Debug, Clone)]
pub struct TestEnv {
    pub host: String,
    pub volume: String,
    /// The official client's mount of the volume.
    pub official: PathBuf,
    pub bricks: Vec<PathBuf>,
}

/// The environment for `volume`, or None when no server was set up: the
/// test then skips itself (see [`skip`]), which fails it instead under
/// GLUSTERFS_RS_REQUIRE_SERVER=1 (integration/run-tests sets it).
pub fn env(volume: &str) -> Option<TestEnv> {
    let Some(host) = std::env::var("GLUSTERFS_RS_TEST_HOST").ok() else {
        skip("no GlusterFS test server: GLUSTERFS_RS_TEST_HOST is not set (run integration/gluster-env.sh setup, or integration/run-tests)");
        return None;
    };
    let mnt =
        std::env::var("GLUSTERFS_RS_TEST_MNT").unwrap_or_else(|_| "/mnt/glusterfs-rs-test".into());
    let bricks = std::env::var(format!(
        "GLUSTERFS_RS_TEST_BRICKS_{}",
        volume.to_uppercase()
    ))
    .unwrap_or_default()
    .split_whitespace()
    .map(PathBuf::from)
    .collect();
    Some(TestEnv {
        host,
        volume: volume.to_string(),
        official: Path::new(&mnt).join(format!("official-{volume}")),
        bricks,
    })
}

/// The marker a skipped test prints (integration/run-tests looks for it).
pub const SKIP_MARKER: &str = "SKIPPED:";

/// Records that the running test cannot run here, for `reason`, and
/// returns so that the caller can return early. libtest has no runtime
/// skip, so the test will still count as passed; to keep that honest:
///
/// - the line `SKIPPED: <test>: <reason>` goes straight to the process's
///   stderr, past libtest's output capture, so that it shows in a plain
///   `cargo test` run;
/// - it is appended to the file named by GLUSTERFS_RS_SKIP_LOG, if set
///   (integration/run-tests fails when that file is not empty);
/// - under GLUSTERFS_RS_REQUIRE_SERVER=1 nothing may be skipped: it panics,
///   which fails the test.
pub fn skip(reason: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string();
    if std::env::var("GLUSTERFS_RS_REQUIRE_SERVER").as_deref() == Ok("1") {
        panic!("{test}: {reason} (GLUSTERFS_RS_REQUIRE_SERVER=1: nothing may be skipped)");
    }
    let line = format!("{SKIP_MARKER} {test}: {reason}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Ok(log) = std::env::var("GLUSTERFS_RS_SKIP_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// Skips the test (see [`skip`]) when there is no server.
#[macro_export]
macro_rules! require_env {
    ($vol:expr) => {
        match $crate::env($vol) {
            Some(e) => e,
            None => return,
        }
    };
}

impl TestEnv {
    pub async fn connect(&self) -> Volume {
        Volume::connect(
            std::slice::from_ref(&self.host),
            &self.volume,
            VolumeOptions::default(),
        )
        .await
        .expect("connect to the test volume")
    }

    /// A fresh directory for one test, made through the official mount.
    pub fn scratch_dir(&self, test: &str) -> (String, PathBuf) {
        let name = format!("{test}-{}", uuid::Uuid::new_v4().simple());
        let p = self.official.join(&name);
        std::fs::create_dir(&p).expect("mkdir on the official mount");
        (name, p)
    }

    /// The brick path of `rel` (on the first brick holding it).
    pub fn on_brick(&self, rel: &str) -> Option<PathBuf> {
        self.bricks
            .iter()
            .map(|b| b.join(rel.trim_start_matches('/')))
            .find(|p| p.symlink_metadata().is_ok())
    }

    /// gluster:// URL of a path in the volume.
    pub fn url(&self, path: &str) -> String {
        format!(
            "gluster://{}/{}/{}",
            self.host,
            self.volume,
            path.trim_start_matches('/')
        )
    }
}

/// Waits out the official client's entry and attribute caches (1 s each by
/// default), so that it sees what another client changed.
pub fn settle_official() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

/// Polls `cond` until it holds or `secs` pass; returns whether it held.
/// For what another client shows once its caches expire.
pub fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() > end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A multi-threaded runtime for a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub fn ctx() -> Ctx {
    Ctx::current()
}

/// Resolves a path relative to the volume root.
pub async fn resolve(vol: &Volume, path: &str) -> Iatt {
    vol.resolve(&ctx(), path)
        .await
        .unwrap_or_else(|e| panic!("resolve {path}: {e}"))
}

/// Reads an xattr of a brick file with getfattr (hex value).
pub fn brick_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let out = Command::new("getfattr")
        .args(["--absolute-names", "-e", "hex", "-n", name])
        .arg(path)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=0x")))?;
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The gfid a brick stores for a file.
pub fn brick_gfid(path: &Path) -> Option<Gfid> {
    let v = brick_xattr(path, "trusted.gfid")?;
    Some(Gfid(v.try_into().ok()?))
}

/// Path of a workspace binary built by `cargo build --release --bins`
/// (or the debug one when no release build exists).
pub fn binary(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    for profile in ["release", "debug"] {
        let p = target.join(profile).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not built: run cargo build --release --bins");
}

/// Deterministic pseudo-random bytes (xorshift) for data checks.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A glusterfs-rs FUSE mount for one test, undone (lazily) on drop.
pub struct RsMount {
    pub dir: PathBuf,
}

impl TestEnv {
    /// Mounts the volume with mount.glusterfs-rs (the helper binary) at a
    /// fresh mount point.
    pub fn mount_rs(&self, test: &str, options: &str) -> RsMount {
        let dir = self
            .mount_base()
            .join(format!("rs-{test}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create mount point");
        let out = Command::new(binary("mount-glusterfs-rs"))
            .arg(format!("{}:/{}", self.host, self.volume))
            .arg(&dir)
            .args(if options.is_empty() {
                vec![]
            } else {
                vec!["-o", options]
            })
            .output()
            .expect("run mount-glusterfs-rs");
        assert!(
            out.status.success(),
            "mount failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        RsMount { dir }
    }

    pub fn mount_base(&self) -> PathBuf {
        PathBuf::from(
            std::env::var("GLUSTERFS_RS_TEST_MNT")
                .unwrap_or_else(|_| "/mnt/glusterfs-rs-test".into()),
        )
    }
}

impl RsMount {
    /// The pid of the daemon serving this mount.
    pub fn daemon_pid(&self) -> Option<u32> {
        let want = self.dir.to_string_lossy().into_owned();
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmd.split(|&b| b == 0).collect();
            let is_ours = args.first().is_some_and(|a| {
                a.ends_with(b"mount-glusterfs-rs") || a.ends_with(b"glusterfs-rs")
            });
            (is_ours && args.contains(&want.as_bytes())).then_some(pid)
        })
    }

    pub fn umount(&self) -> std::process::Output {
        Command::new("umount")
            .arg(&self.dir)
            .output()
            .expect("run umount")
    }
}

impl Drop for RsMount {
    fn drop(&mut self) {
        if mounted(&self.dir) {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).output();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// True when `dir` is a mount point (per /proc/self/mounts).
pub fn mounted(dir: &Path) -> bool {
    let want = dir.to_string_lossy();
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(want.as_ref()))
}

/// Runs a command; panics with its output when it fails.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn list_xattrs(p: &Path) -> Vec<(String, Vec<u8>)> {
    let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str())).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid path and buffer.
    let n = unsafe { libc::listxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return Vec::new();
    }
    buf[..n as usize]
        .split(|&b| b == 0)
        .filter(|k| k.starts_with(b"user."))
        .map(|k| {
            let key = std::ffi::CString::new(k).unwrap();
            let mut v = vec![0u8; 4096];
            // SAFETY: valid strings and buffer.
            let n =
                unsafe { libc::getxattr(c.as_ptr(), key.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
            v.truncate(n.max(0) as usize);
            (String::from_utf8_lossy(k).into_owned(), v)
        })
        .collect()
}
