//! The FUSE mount against a real server and kernel: qemu-img, fio with
//! verification, POSIX semantics compared with the official client and a
//! local directory, both clients on one volume, faults and bad input.

use glusterfs_rs_integration::*;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const VOL: &str = "grs1";

fn errno_of(r: std::io::Result<impl Sized>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

#[test]
fn qemu_img_create_check_convert() {
    let env = require_env!(VOL);
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
fn fio_verifies_what_it_wrote() {
    let env = require_env!(VOL);
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

/// One step of the differential test; returns a comparable outcome.
fn apply(root: &Path, op: &Op) -> String {
    let p = |n: &str| root.join(n);
    let res: std::io::Result<String> = (|| match op {
        Op::Create(n, off, len, seed) => {
            let f = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .mode(0o644)
                .open(p(n))?;
            f.write_all_at(&pattern(*seed, *len), *off)?;
            Ok(String::new())
        }
        Op::CreateExcl(n) => OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(p(n))
            .map(|_| String::new()),
        Op::Append(n, len, seed) => {
            let mut f = OpenOptions::new().append(true).open(p(n))?;
            f.write_all(&pattern(*seed, *len))?;
            Ok(String::new())
        }
        Op::Truncate(n, len) => OpenOptions::new()
            .write(true)
            .open(p(n))?
            .set_len(*len)
            .map(|_| String::new()),
        Op::Rename(a, b) => fs::rename(p(a), p(b)).map(|_| String::new()),
        Op::Link(a, b) => fs::hard_link(p(a), p(b)).map(|_| String::new()),
        Op::Unlink(n) => fs::remove_file(p(n)).map(|_| String::new()),
        Op::Mkdir(n) => fs::create_dir(p(n)).map(|_| String::new()),
        Op::Rmdir(n) => fs::remove_dir(p(n)).map(|_| String::new()),
        Op::Chmod(n, mode) => {
            fs::set_permissions(p(n), fs::Permissions::from_mode(*mode)).map(|_| String::new())
        }
        Op::Utimes(n, sec) => {
            let c = CString::new(p(n).as_os_str().as_bytes()).unwrap();
            let ts = [
                libc::timespec {
                    tv_sec: *sec,
                    tv_nsec: 5000,
                },
                libc::timespec {
                    tv_sec: *sec,
                    tv_nsec: 7000,
                },
            ];
            // SAFETY: valid path and two timespecs.
            let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), 0) };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Times set explicitly must read back exactly, everywhere.
            let m = fs::metadata(p(n))?;
            Ok(format!(
                "{}.{} {}.{}",
                m.atime(),
                m.atime_nsec(),
                m.mtime(),
                m.mtime_nsec()
            ))
        }
        Op::SetXattr(n, k, v) => {
            let c = CString::new(p(n).as_os_str().as_bytes()).unwrap();
            let key = CString::new(k.as_str()).unwrap();
            // SAFETY: valid strings and buffer.
            let rc =
                unsafe { libc::setxattr(c.as_ptr(), key.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
            if rc == 0 {
                Ok(String::new())
            } else {
                Err(std::io::Error::last_os_error())
            }
        }
        Op::Fallocate(n, mode, off, len) => {
            let f = OpenOptions::new().write(true).open(p(n))?;
            // SAFETY: valid fd.
            let rc = unsafe {
                libc::fallocate(
                    std::os::fd::AsRawFd::as_raw_fd(&f),
                    *mode,
                    *off as i64,
                    *len as i64,
                )
            };
            if rc == 0 {
                Ok(String::new())
            } else {
                Err(std::io::Error::last_os_error())
            }
        }
        Op::Read(n, off, len) => {
            let f = File::open(p(n))?;
            let mut buf = vec![0u8; *len];
            let k = f.read_at(&mut buf, *off)?;
            Ok(format!("{k}:{:x}", crc(&buf[..k])))
        }
        Op::Seek(n, off, whence) => {
            let f = File::open(p(n))?;
            // Seeking a directory is file-system specific (ext4 answers,
            // GlusterFS says ENXIO through either client).
            if f.metadata()?.is_dir() {
                return Ok("directory".into());
            }
            // SAFETY: valid fd.
            let r =
                unsafe { libc::lseek(std::os::fd::AsRawFd::as_raw_fd(&f), *off as i64, *whence) };
            if r >= 0 {
                Ok(r.to_string())
            } else {
                Err(std::io::Error::last_os_error())
            }
        }
    })();
    match res {
        Ok(s) => format!("ok {s}"),
        Err(e) => format!("err {}", e.raw_os_error().unwrap_or(-1)),
    }
}

fn crc(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100000001b3)
    })
}

#[derive(Debug)]
enum Op {
    Create(String, u64, usize, u64),
    CreateExcl(String),
    Append(String, usize, u64),
    Truncate(String, u64),
    Rename(String, String),
    Link(String, String),
    Unlink(String),
    Mkdir(String),
    Rmdir(String),
    Chmod(String, u32),
    Utimes(String, i64),
    SetXattr(String, String, Vec<u8>),
    Fallocate(String, i32, u64, u64),
    Read(String, u64, usize),
    Seek(String, u64, i32),
}

fn random_ops(seed: u64, n: usize) -> Vec<Op> {
    let mut x = seed | 1;
    let mut r = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let names = ["a", "b", "c", "d/e", "d/f", "g", "d"];
    let mut ops = Vec::new();
    for i in 0..n {
        let a = names[r(names.len() as u64) as usize].to_string();
        let b = names[r(names.len() as u64) as usize].to_string();
        ops.push(match r(15) {
            0 | 1 => Op::Create(a, r(300_000), r(200_000) as usize + 1, i as u64),
            2 => Op::CreateExcl(a),
            3 => Op::Append(a, r(5000) as usize + 1, i as u64),
            4 => Op::Truncate(a, r(400_000)),
            5 => Op::Rename(a, b),
            6 => Op::Link(a, b),
            7 => Op::Unlink(a),
            8 => Op::Mkdir(a),
            9 => Op::Rmdir(a),
            10 => Op::Chmod(a, [0o600, 0o644, 0o755, 0o400][r(4) as usize]),
            11 => Op::Utimes(a, 1_500_000_000 + r(1000) as i64),
            12 => Op::SetXattr(
                a,
                format!("user.k{}", r(3)),
                pattern(i as u64, r(64) as usize),
            ),
            13 => Op::Fallocate(
                a,
                [
                    0,
                    libc::FALLOC_FL_KEEP_SIZE,
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                ][r(3) as usize],
                r(200_000),
                r(100_000) + 1,
            ),
            _ => {
                if r(2) == 0 {
                    Op::Read(a, r(300_000), r(100_000) as usize + 1)
                } else {
                    Op::Seek(
                        a,
                        r(300_000),
                        [libc::SEEK_DATA, libc::SEEK_HOLE][r(2) as usize],
                    )
                }
            }
        });
    }
    ops
}

/// Everything observable about a tree, for comparison.
fn snapshot(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = fs::read_dir(root.join(&rel))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let p = root.join(&r);
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                out.push(format!("{} dir {:o}", r.display(), m.mode()));
                stack.push(r);
            } else {
                let data = fs::read(&p).unwrap();
                let mut xattrs = list_xattrs(&p);
                xattrs.sort();
                // Times differ naturally between the three runs (they
                // happen one after another); explicit utimes are checked
                // in the step results instead.
                out.push(format!(
                    "{} file {:o} nlink={} size={} data={:x} xattrs={:?}",
                    r.display(),
                    m.mode(),
                    m.nlink(),
                    m.len(),
                    crc(&data),
                    xattrs
                ));
            }
        }
    }
    out
}

fn list_xattrs(p: &Path) -> Vec<(String, Vec<u8>)> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
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
            let key = CString::new(k).unwrap();
            let mut v = vec![0u8; 4096];
            // SAFETY: valid strings and buffer.
            let n =
                unsafe { libc::getxattr(c.as_ptr(), key.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
            v.truncate(n.max(0) as usize);
            (String::from_utf8_lossy(k).into_owned(), v)
        })
        .collect()
}

#[test]
fn differential_against_official_client_and_local_disk() {
    differential(VOL, &[11, 12, 13, 14, 15]);
}

/// The same on a volume distributed over two bricks: renames, links and
/// unlinks cross bricks and leave linkto files behind.
#[test]
fn differential_on_a_distributed_volume() {
    differential("grs2", &[21, 22, 23]);
}

fn differential(vol: &str, seeds: &[u64]) {
    let env = require_env!(vol);
    let m = env.mount_rs("diff", "");
    let local = tempfile::tempdir_in("/var/tmp").unwrap();
    for &seed in seeds {
        let (dir_rs, _) = env.scratch_dir("diff-rs");
        let (_, dir_off) = env.scratch_dir("diff-off");
        let roots = [
            m.dir.join(&dir_rs),
            dir_off,
            local.path().join(format!("s{seed}")),
        ];
        fs::create_dir_all(&roots[2]).unwrap();
        for (i, op) in random_ops(seed, 400).iter().enumerate() {
            let got: Vec<String> = roots.iter().map(|r| apply(r, op)).collect();
            // SEEK_DATA/SEEK_HOLE may legitimately differ in granularity
            // between file systems; compare only success there.
            if matches!(op, Op::Seek(..)) {
                let kinds: Vec<&str> = got.iter().map(|g| &g[..3]).collect();
                assert!(
                    kinds.iter().all(|k| *k == kinds[0]),
                    "seed {seed} step {i} {op:?}: {got:?}"
                );
                continue;
            }
            assert!(
                got[0] == got[1] && got[0] == got[2],
                "seed {seed} step {i} {op:?}:\n  glusterfs-rs {}\n  official     {}\n  local        {}",
                got[0],
                got[1],
                got[2]
            );
        }
        let s: Vec<Vec<String>> = roots.iter().map(|r| snapshot(r)).collect();
        assert_eq!(s[0], s[1], "seed {seed}: glusterfs-rs vs official client");
        assert_eq!(s[0], s[2], "seed {seed}: glusterfs-rs vs local disk");
    }
}

#[test]
fn posix_semantics_through_the_mount() {
    let env = require_env!(VOL);
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
fn both_clients_see_each_other() {
    let env = require_env!(VOL);
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
fn umount_ends_the_daemon_and_fstab_mount_works() {
    let env = require_env!(VOL);
    let m = env.mount_rs("umount", "");
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
    let (code, err) = mount(&format!("{}:/grsrep3", env.host), &dir, "");
    assert_eq!(code, Some(32));
    assert!(err.contains("cluster/replicate"), "{err}");

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
