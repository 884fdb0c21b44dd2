//! `glusterfs-rs mount`: connect, mount, serve, and exit the moment the
//! file system is unmounted.
//!
//! Unless in the foreground, the process forks before any thread or
//! runtime exists. The parent waits on a pipe and returns only when the
//! child reports the mount live (after the FUSE INIT handshake) or reports
//! why it failed; so `mount` returns with a usable mount or a clear error
//! and mount(8)'s exit code 32.

use crate::fs::{FsState, Timeouts};
use crate::fuse_ops::GlusterFuse;
use crate::fuse_ops::MAX_IO;
use crate::logging::{self, Target};
use crate::mount_sys::{self, KernelMount};
use crate::options::MountConfig;
use client::{Volume, VolumeOptions};
use fuser::{Config, SessionACL};
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// mount(8) exit codes.
pub const EXIT_USAGE: i32 = 1;
pub const EXIT_MOUNT_FAILURE: i32 = 32;

/// How long the parent waits for the child to report.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Mounts and serves. Returns the process exit code.
pub fn run(cfg: MountConfig, foreground: bool) -> i32 {
    if let Err(e) = check_mountpoint(&cfg.mountpoint) {
        eprintln!("glusterfs-rs: {e}");
        return EXIT_MOUNT_FAILURE;
    }
    if foreground {
        let target = match cfg.log_file.as_deref() {
            None => Target::Stderr,
            Some("syslog") => Target::Syslog,
            Some(p) => Target::File(p.into()),
        };
        if let Err(e) = logging::init(&cfg.log_level, target) {
            eprintln!("glusterfs-rs: {e}");
            return EXIT_USAGE;
        }
        return serve(&cfg, None);
    }
    let (read_end, write_end) = match pipe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("glusterfs-rs: cannot create a pipe: {e}");
            return EXIT_MOUNT_FAILURE;
        }
    };
    // SAFETY: no other thread exists yet (the runtime is built in the
    // child), so the child may run arbitrary code after fork.
    match unsafe { libc::fork() } {
        -1 => {
            eprintln!(
                "glusterfs-rs: fork failed: {}",
                std::io::Error::last_os_error()
            );
            EXIT_MOUNT_FAILURE
        }
        0 => {
            drop(read_end);
            detach();
            let target = match cfg.log_file.as_deref() {
                Some("syslog") => Target::Syslog,
                Some(p) => Target::File(p.into()),
                None => Target::File(logging::default_log_file(&cfg.mountpoint)),
            };
            let mut report = std::fs::File::from(write_end);
            if let Err(e) = logging::init(&cfg.log_level, target) {
                let _ = report.write_all(e.as_bytes());
                return EXIT_USAGE;
            }
            serve(&cfg, Some(report))
        }
        _child => {
            drop(write_end);
            wait_for_child(read_end)
        }
    }
}

/// The parent: "" before EOF means success; any text is the error.
fn wait_for_child(read_end: OwnedFd) -> i32 {
    let mut f = std::fs::File::from(read_end);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut msg = String::new();
        let r = f.read_to_string(&mut msg);
        let _ = tx.send(r.map(|_| msg));
    });
    match rx.recv_timeout(READY_TIMEOUT) {
        Ok(Ok(msg)) if msg == "OK" => 0,
        Ok(Ok(msg)) if msg.is_empty() => {
            eprintln!("glusterfs-rs: the mount daemon exited without reporting (see its log)");
            EXIT_MOUNT_FAILURE
        }
        Ok(Ok(msg)) => {
            eprintln!("glusterfs-rs: {msg}");
            EXIT_MOUNT_FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("glusterfs-rs: lost contact with the mount daemon: {e}");
            EXIT_MOUNT_FAILURE
        }
        Err(_) => {
            eprintln!("glusterfs-rs: the mount did not become ready within {READY_TIMEOUT:?}");
            EXIT_MOUNT_FAILURE
        }
    }
}

/// Connects, mounts, reports readiness and serves until unmounted.
fn serve(cfg: &MountConfig, mut report: Option<std::fs::File>) -> i32 {
    let mut fail = |msg: String| {
        tracing::error!("{msg}");
        match report.take() {
            Some(mut r) => {
                let _ = r.write_all(msg.as_bytes());
            }
            None => eprintln!("glusterfs-rs: {msg}"),
        }
        EXIT_MOUNT_FAILURE
    };
    for opt in &cfg.ignored {
        tracing::info!("mount option '{opt}' accepted for compatibility and ignored");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .max(2),
        )
        .thread_name("glusterfs-rs")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let opts = VolumeOptions {
        port: cfg.port,
        process_name: cfg.process_name.clone(),
        ..Default::default()
    };
    let vol = match rt.block_on(Volume::connect(&cfg.servers, &cfg.volume, opts)) {
        Ok(v) => v,
        Err(e) => {
            return fail(format!(
                "mounting {}:/{} on {} failed: {e}",
                cfg.servers.join(","),
                cfg.volume,
                cfg.mountpoint.display()
            ))
        }
    };
    let state = Arc::new(FsState::new(
        vol.clone(),
        Timeouts {
            attr: cfg.attribute_timeout,
            entry: cfg.entry_timeout,
            negative: cfg.negative_timeout,
        },
    ));
    let fs = GlusterFuse {
        state,
        rt: rt.handle().clone(),
        direct_io: cfg.direct_io,
        writeback_cache: cfg.writeback_cache,
        acl: cfg.acl,
    };
    let source = format!("{}:/{}", cfg.servers[0], cfg.volume);
    let flags = mount_sys::flags_for(cfg.read_only, &cfg.kernel_flags);
    let (dev, kmount) = match KernelMount::mount(&source, &cfg.mountpoint, flags, MAX_IO) {
        Ok(m) => m,
        Err(e) => {
            vol.close();
            return fail(format!("cannot mount on {}: {e}", cfg.mountpoint.display()));
        }
    };
    let mut config = Config::default();
    config.n_threads = Some(cfg.reader_threads);
    config.clone_fd = true;
    // Serving starts with the FUSE INIT handshake: when this returns, the
    // mount is live.
    let session = match fuser::Session::from_fd(fs, dev, SessionACL::All, config) {
        Ok(s) => s,
        Err(e) => {
            let _ = kmount.unmount();
            vol.close();
            return fail(format!(
                "FUSE handshake on {} failed: {e}",
                cfg.mountpoint.display()
            ));
        }
    };
    // After INIT, which resets the read-ahead to what it negotiated.
    set_read_ahead(&cfg.mountpoint);
    // SIGTERM/SIGINT/SIGHUP unmount; the session then ends and we exit.
    let unmounter = kmount.clone();
    rt.spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
        }
        tracing::info!("signal received; unmounting");
        if let Err(e) = unmounter.unmount() {
            tracing::warn!("unmount failed: {e}");
        }
    });
    tracing::info!(
        "mounted {}:/{} on {}",
        vol.server(),
        vol.name(),
        cfg.mountpoint.display()
    );
    if let Some(mut r) = report.take() {
        let _ = r.write_all(b"OK");
    }
    let result = session.run();
    // Unmounted: end the replica sets' runs of writes (so no file stays
    // marked dirty for shd), then close every connection and leave.
    // (The timer must be made inside the runtime.)
    let settle =
        async { tokio::time::timeout(std::time::Duration::from_secs(5), vol.settle()).await };
    if rt.block_on(settle).is_err() {
        tracing::warn!("delayed post-ops did not finish within 5 s at unmount");
    }
    vol.close();
    rt.shutdown_background();
    match result {
        Ok(()) => {
            tracing::info!("unmounted {}", cfg.mountpoint.display());
            0
        }
        Err(e) => {
            tracing::error!("FUSE session ended with an error: {e}");
            1
        }
    }
}

/// Kernel read-ahead for the new mount (the kernel starts FUSE mounts at
/// 128 KiB). Sequential reads of 1 MiB requests ran at about twice the
/// speed with 4 MiB (benches/). Found through /proc/self/mountinfo: a stat
/// of the mount point would wait for the session we have not started yet.
fn set_read_ahead(mountpoint: &Path) {
    const READ_AHEAD_KB: u32 = 4096;
    let Ok(canon) = mountpoint.canonicalize() else {
        return;
    };
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // Fields: id parent major:minor root mountpoint ...; the last match is ours.
    let dev = info
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 4 && unescape_mount_path(f[4]) == canon.to_string_lossy())
                .then(|| f[2].to_string())
        })
        .next_back();
    if let Some(dev) = dev {
        let path = format!("/sys/class/bdi/{dev}/read_ahead_kb");
        if let Err(e) = std::fs::write(&path, READ_AHEAD_KB.to_string()) {
            tracing::info!("cannot raise read-ahead ({path}): {e}");
        }
    }
}

fn check_mountpoint(p: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(p).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOTCONN) => format!(
            "mount point {} is a dead FUSE mount (its daemon is gone): run 'umount -l {}' first",
            p.display(),
            p.display()
        ),
        _ => format!(
            "mount point {} does not exist or cannot be reached: {e}",
            p.display()
        ),
    })?;
    if !meta.is_dir() {
        return Err(format!("mount point {} is not a directory", p.display()));
    }
    let canon = p
        .canonicalize()
        .map_err(|e| format!("{}: {e}", p.display()))?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let busy = mounts.lines().any(|l| {
        let mut f = l.split_whitespace();
        let (_, target) = (f.next(), f.next());
        target.map(unescape_mount_path).as_deref() == Some(canon.to_string_lossy().as_ref())
    });
    if busy {
        return Err(format!(
            "mount point {} is busy: something is already mounted there",
            p.display()
        ));
    }
    Ok(())
}

/// /proc/mounts escapes space, tab, newline and backslash as \ooo.
fn unescape_mount_path(s: &str) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v as char);
            i += 4;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Leaves the caller's session and terminal; stdio goes to /dev/null.
fn detach() {
    // SAFETY: plain syscalls on descriptors we own; failures leave the
    // process attached, which is harmless.
    unsafe {
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            if null > 2 {
                libc::close(null);
            }
        }
    }
    let _ = std::env::set_current_dir("/");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount_path("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape_mount_path("/mnt/x\\"), "/mnt/x\\");
    }

    #[test]
    fn missing_mountpoint_is_reported() {
        let e = check_mountpoint(Path::new("/nonexistent/glusterfs-rs")).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        let e = check_mountpoint(Path::new("/proc")).unwrap_err();
        assert!(e.contains("busy"), "{e}");
    }
}
