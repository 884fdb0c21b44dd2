//! The FUSE mount against a real server and kernel: qemu-img, fio with
//! verification, POSIX semantics compared with the official client and a
//! local directory, both clients on one volume, faults and bad input.

use glusterfs_rs_integration::*;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const VOL: &str = "grs1";

fn errno_of(r: std::io::Result<impl Sized>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn qemu_img_create_check_convert() {
    qemu_img_create_check_convert_on(VOL);
}

/// The same on a replica 3 volume.
#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn qemu_img_create_check_convert_on_a_replica_volume() {
    qemu_img_create_check_convert_on("grsrepb");
}

fn qemu_img_create_check_convert_on(vol: &str) {
    let env = require_env!(vol);
    let m = env.mount_rs("qemu", "");
    let (dir, odir) = env.scratch_dir("qemu");
    let d = m.dir.join(&dir);
    let t = Instant::now();
    run_ok(
        Command::new("qemu-img")
            .args(["create", "-f", "qcow2"])
            .arg(d.join("a.qcow2"))
            .arg("10G"),
    );
    println!("qemu-img create qcow2 10G: {:?}", t.elapsed());
    run_ok(
        Command::new("qemu-img")
            .args(["create", "-f", "raw"])
            .arg(d.join("a.raw"))
            .arg("10G"),
    );
    run_ok(Command::new("qemu-img").arg("check").arg(d.join("a.qcow2")));
    assert_eq!(fs::metadata(d.join("a.raw")).unwrap().len(), 10 << 30);

    // A local raw image with data, converted in to qcow2 on the mount and
    // back out, must come back byte for byte.
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src.raw");
    let mut data = pattern(5, 24 << 20);
    data[3 << 20..5 << 20].fill(0); // a hole for qemu to skip
    fs::write(&src, &data).unwrap();
    run_ok(
        Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "qcow2"])
            .arg(&src)
            .arg(d.join("in.qcow2")),
    );
    run_ok(
        Command::new("qemu-img")
            .arg("check")
            .arg(d.join("in.qcow2")),
    );
    let back = local.path().join("back.raw");
    run_ok(
        Command::new("qemu-img")
            .args(["convert", "-f", "qcow2", "-O", "raw"])
            .arg(d.join("in.qcow2"))
            .arg(&back),
    );
    assert!(
        fs::read(&back).unwrap() == data,
        "qcow2 round trip through the mount changed data"
    );
    // The official client reads the same image.
    run_ok(
        Command::new("qemu-img")
            .args(["compare", "-f", "raw", "-F", "qcow2"])
            .arg(&src)
            .arg(odir.join("in.qcow2")),
    );
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn fio_verifies_what_it_wrote() {
    fio_verifies_what_it_wrote_on(VOL);
}

/// The same on a replica 3 volume.
#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn fio_verifies_what_it_wrote_on_a_replica_volume() {
    fio_verifies_what_it_wrote_on("grsrepb");
}

fn fio_verifies_what_it_wrote_on(vol: &str) {
    let env = require_env!(vol);
    let m = env.mount_rs("fio", "");
    let (dir, _) = env.scratch_dir("fio");
    let d = m.dir.join(&dir);
    let jobs: &[&[&str]] = &[
        &[
            "--name=seqw",
            "--rw=write",
            "--bs=1M",
            "--size=64M",
            "--numjobs=2",
            "--ioengine=psync",
        ],
        &[
            "--name=randw",
            "--rw=randwrite",
            "--bs=4k",
            "--size=16M",
            "--numjobs=4",
            "--ioengine=psync",
        ],
        &[
            "--name=aio",
            "--rw=randwrite",
            "--bs=64k",
            "--size=32M",
            "--numjobs=2",
            "--ioengine=libaio",
            "--direct=1",
            "--iodepth=16",
        ],
        &[
            "--name=aioseq",
            "--rw=write",
            "--bs=1M",
            "--size=32M",
            "--ioengine=libaio",
            "--direct=1",
            "--iodepth=8",
        ],
    ];
    // fio saves its verify state ("local-<job>-<n>-verify.state") in its
    // working directory unless told not to: no state files, and a scratch
    // working directory in case a fio version writes something anyway.
    let cwd = tempfile::tempdir().unwrap();
    for job in jobs {
        let out = run_ok(
            Command::new("fio")
                .current_dir(cwd.path())
                .arg(format!("--directory={}", d.display()))
                .args(*job)
                .args([
                    "--verify=crc32c",
                    "--do_verify=1",
                    "--verify_fatal=1",
                    "--verify_state_save=0",
                    "--group_reporting",
                    "--output-format=terse",
                ]),
        );
        assert!(!out.contains("verify: bad"), "{job:?}: {out}");
    }
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn posix_semantics_through_the_mount() {
    posix_semantics_through_the_mount_on(VOL);
}

/// The same on a replica 3 volume.
#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn posix_semantics_through_the_mount_on_a_replica_volume() {
    posix_semantics_through_the_mount_on("grsrepb");
}

fn posix_semantics_through_the_mount_on(vol: &str) {
    let env = require_env!(vol);
    let m = env.mount_rs("posix", "");
    let (dir, odir) = env.scratch_dir("posix");
    let d = m.dir.join(&dir);

    // O_EXCL, O_APPEND, rename over an existing file, hard links.
    let f = d.join("f");
    fs::write(&f, b"hello").unwrap();
    assert_eq!(
        errno_of(OpenOptions::new().write(true).create_new(true).open(&f)),
        Some(libc::EEXIST)
    );
    OpenOptions::new()
        .append(true)
        .open(&f)
        .unwrap()
        .write_all(b" world")
        .unwrap();
    assert_eq!(fs::read(&f).unwrap(), b"hello world");
    fs::write(d.join("g"), b"other").unwrap();
    fs::rename(d.join("g"), &f).unwrap();
    assert_eq!(fs::read(&f).unwrap(), b"other");
    fs::hard_link(&f, d.join("h")).unwrap();
    assert_eq!(fs::metadata(&f).unwrap().nlink(), 2);
    assert_eq!(
        fs::metadata(&f).unwrap().ino(),
        fs::metadata(d.join("h")).unwrap().ino()
    );
    // st_ino matches the official client's (both derive it from the gfid).
    settle_official();
    assert_eq!(
        fs::metadata(&f).unwrap().ino(),
        fs::metadata(odir.join("f")).unwrap().ino()
    );

    // Sparse files and SEEK_DATA / SEEK_HOLE.
    let s = d.join("sparse");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&s)
        .unwrap();
    file.set_len(1 << 30).unwrap();
    file.write_all_at(b"data", 512 << 20).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: valid fd.
    let data_at = unsafe { libc::lseek(fd, 0, libc::SEEK_DATA) };
    assert!(data_at > 0 && data_at <= 512 << 20, "SEEK_DATA {data_at}");
    // SAFETY: valid fd.
    let hole_at = unsafe { libc::lseek(fd, 512 << 20, libc::SEEK_HOLE) };
    assert!(hole_at > 512 << 20, "SEEK_HOLE {hole_at}");
    // SAFETY: valid fd.
    assert_eq!(unsafe { libc::lseek(fd, 2 << 30, libc::SEEK_DATA) }, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ENXIO)
    );
    // fallocate: punch a hole, zero a range.
    file.write_all_at(&[7u8; 8192], 0).unwrap();
    // SAFETY: valid fd.
    assert_eq!(
        unsafe {
            libc::fallocate(
                fd,
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                0,
                4096,
            )
        },
        0
    );
    let mut buf = [1u8; 8192];
    file.read_exact_at(&mut buf, 0).unwrap();
    assert!(buf[..4096].iter().all(|&b| b == 0) && buf[4096..].iter().all(|&b| b == 7));
    assert_eq!(file.metadata().unwrap().len(), 1 << 30);
    drop(file);

    // xattrs: user.* round trip; the brick's internals stay hidden.
    let c = CString::new(f.as_os_str().as_bytes()).unwrap();
    let key = CString::new("user.test").unwrap();
    // SAFETY: valid strings.
    assert_eq!(
        unsafe { libc::setxattr(c.as_ptr(), key.as_ptr(), b"v1".as_ptr().cast(), 2, 0) },
        0
    );
    assert_eq!(
        list_xattrs(&f),
        vec![("user.test".to_string(), b"v1".to_vec())]
    );
    let gfid_key = CString::new("trusted.gfid").unwrap();
    let mut v = [0u8; 64];
    // SAFETY: valid strings and buffer.
    assert_eq!(
        unsafe {
            libc::getxattr(
                c.as_ptr(),
                gfid_key.as_ptr(),
                v.as_mut_ptr().cast(),
                v.len(),
            )
        },
        -1
    );
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ENODATA)
    );
    // SAFETY: valid strings.
    assert_eq!(
        unsafe { libc::setxattr(c.as_ptr(), gfid_key.as_ptr(), v.as_ptr().cast(), 16, 0) },
        -1
    );
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EPERM)
    );
    // SAFETY: valid strings.
    assert_eq!(unsafe { libc::removexattr(c.as_ptr(), key.as_ptr()) }, 0);

    // Symlinks, FIFOs, devices.
    std::os::unix::fs::symlink("f", d.join("sym")).unwrap();
    assert_eq!(fs::read_link(d.join("sym")).unwrap(), Path::new("f"));
    assert_eq!(fs::read(d.join("sym")).unwrap(), b"other");
    let fifo = CString::new(d.join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: valid path.
    assert_eq!(
        unsafe { libc::mknod(fifo.as_ptr(), libc::S_IFIFO | 0o600, 0) },
        0
    );
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(
        &fs::symlink_metadata(d.join("fifo")).unwrap().file_type()
    ));
    let dev = CString::new(d.join("null").as_os_str().as_bytes()).unwrap();
    // SAFETY: valid path.
    assert_eq!(
        unsafe { libc::mknod(dev.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 3)) },
        0
    );
    assert_eq!(
        fs::symlink_metadata(d.join("null")).unwrap().rdev(),
        libc::makedev(1, 3)
    );

    // copy_file_range on the server.
    let src = File::open(&f).unwrap();
    let dst = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(d.join("copy"))
        .unwrap();
    // SAFETY: valid fds, null offsets use the file positions.
    let n = unsafe {
        libc::copy_file_range(
            std::os::fd::AsRawFd::as_raw_fd(&src),
            std::ptr::null_mut(),
            std::os::fd::AsRawFd::as_raw_fd(&dst),
            std::ptr::null_mut(),
            5,
            0,
        )
    };
    assert_eq!(n, 5);
    assert_eq!(fs::read(d.join("copy")).unwrap(), b"other");

    // Names: too long, and directory errors.
    assert_eq!(
        errno_of(File::create(d.join("n".repeat(256)))),
        Some(libc::ENAMETOOLONG)
    );
    File::create(d.join("n".repeat(255))).unwrap();
    let deep: PathBuf = (0..2100).map(|_| "ab").collect();
    assert_eq!(
        errno_of(fs::create_dir_all(d.join(deep))),
        Some(libc::ENAMETOOLONG)
    );
    fs::create_dir(d.join("dir")).unwrap();
    File::create(d.join("dir/x")).unwrap();
    assert_eq!(
        errno_of(fs::remove_dir(d.join("dir"))),
        Some(libc::ENOTEMPTY)
    );
    assert_eq!(errno_of(fs::remove_file(d.join("dir"))), Some(libc::EISDIR));
    assert_eq!(errno_of(fs::create_dir(d.join("dir"))), Some(libc::EEXIST));
    assert_eq!(errno_of(fs::read_dir(d.join("f"))), Some(libc::ENOTDIR));

    // POSIX locks conflict across processes (checked by a child).
    let lf = d.join("lockfile");
    fs::write(&lf, b"x").unwrap();
    let mut holder = OpenOptions::new().read(true).write(true).open(&lf).unwrap();
    let fl = libc::flock {
        l_type: libc::F_WRLCK as i16,
        l_whence: 0,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    // SAFETY: valid fd and flock.
    assert_eq!(
        unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&holder), libc::F_SETLK, &fl) },
        0
    );
    let script = format!(
        "import fcntl,sys\nf=open('{}','r+')\ntry:\n    fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB)\n    print('got')\nexcept OSError as e:\n    print('busy', e.errno)",
        lf.display()
    );
    let out = run_ok(Command::new("python3").arg("-c").arg(&script));
    assert_eq!(
        out.trim(),
        format!("busy {}", libc::EAGAIN),
        "lock not enforced: {out}"
    );
    holder.seek(SeekFrom::Start(0)).unwrap();
    let mut s = String::new();
    holder.read_to_string(&mut s).unwrap();
    drop(holder);
    let out = run_ok(Command::new("python3").arg("-c").arg(&script));
    assert_eq!(out.trim(), "got", "lock not released on close: {out}");
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn both_clients_see_each_other() {
    both_clients_see_each_other_on(VOL);
}

/// The same on a replica 3 volume.
#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn both_clients_see_each_other_on_a_replica_volume() {
    both_clients_see_each_other_on("grsrepb");
}

fn both_clients_see_each_other_on(vol: &str) {
    let env = require_env!(vol);
    let m = env.mount_rs("both", "");
    let (dir, odir) = env.scratch_dir("both");
    let d = m.dir.join(&dir);
    fs::write(d.join("from-rs"), b"rs").unwrap();
    fs::write(odir.join("from-official"), b"official").unwrap();
    settle_official();
    assert_eq!(fs::read(odir.join("from-rs")).unwrap(), b"rs");
    assert_eq!(fs::read(d.join("from-official")).unwrap(), b"official");
    // Writes, renames and deletes cross over after the attribute timeout.
    fs::write(odir.join("from-rs"), b"changed by official").unwrap();
    fs::rename(d.join("from-official"), d.join("renamed")).unwrap();
    settle_official();
    assert_eq!(fs::read(d.join("from-rs")).unwrap(), b"changed by official");
    assert!(eventually(5, || odir.join("renamed").exists()
        && !odir.join("from-official").exists()));
    fs::remove_file(odir.join("renamed")).unwrap();
    assert!(eventually(5, || !d.join("renamed").exists()));
    let mut names: Vec<_> = fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["from-rs"]);
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn umount_ends_the_daemon_and_fstab_mount_works() {
    let env = require_env!(VOL);
    let log = std::env::temp_dir().join(format!("grs-umount-{}.log", std::process::id()));
    let m = env.mount_rs("umount", &format!("log-file={}", log.display()));
    let pid = m.daemon_pid().expect("daemon pid");
    fs::read_dir(&m.dir).unwrap().count();
    let t = Instant::now();
    let out = m.umount();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "daemon still alive after umount"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("umount to daemon exit: {:?}", t.elapsed());
    // It left the way it should: the last line of a clean exit is there.
    let text = fs::read_to_string(&log).unwrap_or_default();
    let _ = fs::remove_file(&log);
    assert!(
        text.contains("unmounted"),
        "daemon did not exit cleanly:\n{text}"
    );

    // An fstab line, through mount(8) and the installed helper.
    if !Path::new("/usr/sbin/mount.glusterfs-rs").exists()
        && !Path::new("/sbin/mount.glusterfs-rs").exists()
    {
        panic!("mount.glusterfs-rs is not installed in /sbin (integration/run-tests installs it)");
    }
    let mp = env
        .mount_base()
        .join(format!("fstab-{}", std::process::id()));
    fs::create_dir_all(&mp).unwrap();
    let tab = tempfile::NamedTempFile::new().unwrap();
    fs::write(
        tab.path(),
        format!("{}:/{} {} glusterfs-rs defaults,_netdev,backup-volfile-servers=127.0.0.3:127.0.0.4 0 0\n", env.host, env.volume, mp.display()),
    )
    .unwrap();
    run_ok(Command::new("mount").arg("-T").arg(tab.path()).arg(&mp));
    assert!(mounted(&mp));
    assert!(fs::read_dir(&mp).is_ok());
    run_ok(Command::new("umount").arg(&mp));
    fs::remove_dir(&mp).unwrap();
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn bad_input_and_faults() {
    let env = require_env!(VOL);
    let helper = binary("mount-glusterfs-rs");
    let mount = |spec: &str, dir: &Path, opts: &str| {
        let mut c = Command::new(&helper);
        c.arg(spec).arg(dir);
        if !opts.is_empty() {
            c.args(["-o", opts]);
        }
        let t = Instant::now();
        let out = c.output().unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "mount took {:?}",
            t.elapsed()
        );
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let dir = env.mount_base().join(format!("bad-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let spec = format!("{}:/{}", env.host, env.volume);

    let (code, err) = mount(&format!("{}:/no-such-volume", env.host), &dir, "");
    assert_eq!(code, Some(32), "{err}");
    assert!(
        err.contains("volume no-such-volume does not exist"),
        "{err}"
    );
    let (code, err) = mount(&spec, &dir.join("missing"), "");
    assert_eq!(code, Some(32));
    assert!(err.contains("does not exist"), "{err}");
    let (code, err) = mount(&spec, &dir, "attribute-timeout=soon");
    assert_eq!(code, Some(32));
    assert!(err.contains("attribute-timeout"), "{err}");
    let (code, err) = mount(&spec, &dir, "no-such-option");
    assert_eq!(code, Some(32));
    assert!(
        err.contains("unknown mount option 'no-such-option'"),
        "{err}"
    );
    // Server down: nothing listens on the volfile server port.
    let (code, err) = mount(&spec, &dir, "server-port=1");
    assert_eq!(code, Some(32));
    assert!(err.contains("cannot connect"), "{err}");
    // A volume we refuse to mount names the translator.
    let (code, err) = mount(&format!("{}:/grsec", env.host), &dir, "");
    assert_eq!(code, Some(32));
    assert!(err.contains("cluster/disperse"), "{err}");

    // Busy mount point.
    let m = env.mount_rs("busy", "");
    let (code, err) = mount(&spec, &m.dir, "");
    assert_eq!(code, Some(32));
    assert!(err.contains("busy"), "{err}");

    // Daemon killed: the mount reports ENOTCONN; umount -l cleans up.
    let pid = m.daemon_pid().expect("daemon pid");
    // SAFETY: sending a signal to a process we started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let t = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        errno_of(fs::metadata(m.dir.join("x"))),
        Some(libc::ENOTCONN)
    );
    let (code, err) = mount(&spec, &m.dir, "");
    assert_eq!(code, Some(32));
    assert!(err.contains("umount -l"), "{err}");
    run_ok(Command::new("umount").arg("-l").arg(&m.dir));
    assert!(!mounted(&m.dir));
    fs::remove_dir(&dir).unwrap();
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn brick_restart_is_survived() {
    let env = require_env!("grsfault");
    let m = env.mount_rs("fault", "");
    let f = m.dir.join(format!("f-{}", std::process::id()));
    fs::write(&f, b"before").unwrap();
    let mut open = OpenOptions::new().read(true).write(true).open(&f).unwrap();
    // Kill the brick process.
    let out = run_ok(Command::new("gluster").args([
        "--mode=script",
        "volume",
        "status",
        "grsfault",
        "--xml",
    ]));
    let pid: i32 = out
        .split("<pid>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .and_then(|s| s.trim().parse().ok())
        .expect("brick pid in volume status");
    // SAFETY: signalling the test volume's brick process.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // glusterd skips "start force" for a brick whose pid still exists.
    let t = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let e = fs::read(&f).map(|_| ()).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOTCONN), "{e}");
    // A write acknowledged by write-behind while the brick is gone must
    // not vanish silently: fsync reports the failure.
    let lost = OpenOptions::new().write(true).open(&f);
    if let Ok(mut lost) = lost {
        let _ = lost.write_all(b"lost");
        assert!(
            lost.sync_all().is_err(),
            "fsync succeeded although the brick was down"
        );
    }
    run_ok(Command::new("gluster").args(["--mode=script", "volume", "start", "grsfault", "force"]));
    // The client reconnects on the next call; give the brick a moment.
    let t = Instant::now();
    let data = loop {
        match fs::read(&f) {
            Ok(d) => break d,
            Err(e) if t.elapsed() < Duration::from_secs(30) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("no recovery after brick restart: {e}"),
        }
    };
    assert_eq!(data, b"before");
    // The fd opened before the restart is reopened and still works.
    open.seek(SeekFrom::Start(0)).unwrap();
    open.write_all(b"AFTER!").unwrap();
    drop(open);
    assert_eq!(fs::read(&f).unwrap(), b"AFTER!");
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn create_unlink_cycles_do_not_leak() {
    let env = require_env!(VOL);
    let m = env.mount_rs("leak", "");
    let (dir, _) = env.scratch_dir("leak");
    let d = m.dir.join(&dir);
    let pid = m.daemon_pid().expect("daemon pid");
    let rss = || -> u64 {
        let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap()
    };
    let cycle = |n: usize| {
        for i in 0..n {
            let p = d.join(format!("f{}", i % 50));
            fs::write(&p, b"x").unwrap();
            fs::remove_file(&p).unwrap();
        }
    };
    cycle(2000);
    let before = rss();
    cycle(10_000);
    let after = rss();
    println!("RSS {before} kB -> {after} kB over 10000 create/unlink cycles");
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
}
