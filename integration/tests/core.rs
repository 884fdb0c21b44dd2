//! The client library against a real GlusterFS server, checked through
//! the official client mounted on the same volume and on the bricks.

use client::{Error, SetAttr, SetTime};
use glusterfs_rs_integration::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

const VOL: &str = "grs1";

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn library_writes_official_client_reads() {
    library_writes_official_client_reads_on(VOL);
}

/// The same on a replica 3 volume.
#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn library_writes_official_client_reads_on_a_replica_volume() {
    library_writes_official_client_reads_on("grsrepb");
}

fn library_writes_official_client_reads_on(vol: &str) {
    let env = require_env!(vol);
    let (dir, odir) = env.scratch_dir("lib2off");
    runtime().block_on(async {
        let vol = env.connect().await;
        let c = ctx();
        let parent = resolve(&vol, &dir).await;
        let data = pattern(1, 3 * 1024 * 1024 + 17);
        let (fd, st) = vol
            .create(&c, parent.gfid, b"data.bin", libc::O_RDWR as u32, 0o640, 0)
            .await
            .unwrap();
        let (n, _) = fd.write(&c, 0, &data).await.unwrap();
        assert_eq!(n, data.len());
        fd.flush(&c).await.unwrap();
        fd.release().await;
        vol.setxattr(&c, st.gfid, "user.origin", b"glusterfs-rs\0bin", 0)
            .await
            .unwrap();
        vol.setattr(
            &c,
            st.gfid,
            &SetAttr {
                uid: Some(1234),
                gid: Some(4321),
                mtime: Some(SetTime::At {
                    sec: 1_600_000_000,
                    nsec: 123_456_789,
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        vol.link(&c, st.gfid, parent.gfid, b"hardlink")
            .await
            .unwrap();

        // The official client sees the same bytes, mode, owner, times, xattr, links.
        let p = odir.join("data.bin");
        assert_eq!(std::fs::read(&p).unwrap(), data);
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!((m.uid(), m.gid()), (1234, 4321));
        assert_eq!((m.mtime(), m.mtime_nsec()), (1_600_000_000, 123_456_789));
        assert_eq!(m.nlink(), 2);
        assert_eq!(
            m.ino(),
            std::fs::metadata(odir.join("hardlink")).unwrap().ino()
        );
        assert_eq!(
            brick_xattr(&p, "user.origin").as_deref(),
            Some(&b"glusterfs-rs\0bin"[..])
        );
        // The gfid on the brick is the one the library generated.
        let on_brick = env
            .on_brick(&format!("{dir}/data.bin"))
            .expect("file on a brick");
        assert_eq!(brick_gfid(&on_brick), Some(st.gfid));
        assert_eq!(
            brick_xattr(&on_brick, "user.origin").as_deref(),
            Some(&b"glusterfs-rs\0bin"[..])
        );
        vol.close();
    });
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn official_client_writes_library_reads() {
    official_client_writes_library_reads_on(VOL);
}

/// The same on a replica 3 volume.
#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn official_client_writes_library_reads_on_a_replica_volume() {
    official_client_writes_library_reads_on("grsrepb");
}

fn official_client_writes_library_reads_on(vol: &str) {
    let env = require_env!(vol);
    let (dir, odir) = env.scratch_dir("off2lib");
    let data = pattern(2, 2 * 1024 * 1024 + 4095);
    let p = odir.join("f");
    std::fs::write(&p, &data).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o604)).unwrap();
    std::fs::hard_link(&p, odir.join("f2")).unwrap();
    std::os::unix::fs::symlink("f", odir.join("sym")).unwrap();
    let m = std::fs::metadata(&p).unwrap();
    runtime().block_on(async {
        let vol = env.connect().await;
        let c = ctx();
        let st = resolve(&vol, &format!("{dir}/f")).await;
        assert_eq!(st.size, data.len() as u64);
        assert_eq!(st.mode, 0o100604);
        assert_eq!(st.nlink, 2);
        assert_eq!(
            (st.mtime, st.mtime_nsec as i64),
            (m.mtime(), m.mtime_nsec())
        );
        let fd = vol.open(&c, st.gfid, libc::O_RDONLY as u32).await.unwrap();
        let got = fd.read(&c, 0, data.len() + 100).await.unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got[..] == data[..]);
        fd.release().await;
        let sym = resolve(&vol, &format!("{dir}/sym")).await;
        assert!(sym.is_symlink());
        assert_eq!(vol.readlink(&c, sym.gfid).await.unwrap(), b"f");
        vol.close();
    });
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn random_offset_io_matches_a_local_model() {
    random_offset_io_matches_a_local_model_on(VOL);
}

/// The same on a replica 3 volume.
#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn random_offset_io_matches_a_local_model_on_a_replica_volume() {
    random_offset_io_matches_a_local_model_on("grsrepb");
}

fn random_offset_io_matches_a_local_model_on(vol: &str) {
    let env = require_env!(vol);
    let (dir, odir) = env.scratch_dir("randio");
    runtime().block_on(async {
        let vol = env.connect().await;
        let c = ctx();
        let parent = resolve(&vol, &dir).await;
        let (fd, _) = vol
            .create(&c, parent.gfid, b"r", libc::O_RDWR as u32, 0o644, 0)
            .await
            .unwrap();
        let mut model: Vec<u8> = Vec::new();
        let mut rng = 0x1234_5678_9abc_def0u64;
        let mut next = |m: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % m
        };
        let sizes = [
            1usize,
            2,
            511,
            4096,
            65_537,
            1 << 20,
            (1 << 20) + 3,
            4 << 20,
        ];
        for i in 0..40 {
            let len = sizes[next(sizes.len() as u64) as usize];
            let off = next(8 << 20) as usize;
            let data = pattern(i, len);
            let (n, post) = fd.write(&c, off as u64, &data).await.unwrap();
            assert_eq!(n, len);
            if model.len() < off + len {
                model.resize(off + len, 0);
            }
            model[off..off + len].copy_from_slice(&data);
            assert_eq!(post.size, model.len() as u64);
            // Read back a random window, including past EOF.
            let roff = next(model.len() as u64 + 10) as usize;
            let rlen = sizes[next(sizes.len() as u64) as usize];
            let got = fd.read(&c, roff as u64, rlen).await.unwrap();
            let want = &model[roff.min(model.len())..(roff + rlen).min(model.len())];
            assert!(
                got[..] == want[..],
                "read {rlen} at {roff} after write {len} at {off}"
            );
        }
        // Truncate down and up: the tail reads back as zeros.
        let st = fd.ftruncate(&c, 1000).await.unwrap();
        assert_eq!(st.size, 1000);
        model.truncate(1000);
        fd.ftruncate(&c, 5000).await.unwrap();
        model.resize(5000, 0);
        let got = fd.read(&c, 0, 10_000).await.unwrap();
        assert!(got[..] == model[..]);
        // EOF: a read at or past the end returns nothing.
        assert!(fd.read(&c, 5000, 10).await.unwrap().is_empty());
        assert!(fd.read(&c, 1 << 40, 10).await.unwrap().is_empty());
        fd.release().await;
        assert_eq!(std::fs::read(odir.join("r")).unwrap(), model);
        vol.close();
    });
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn sparse_files_keep_their_holes() {
    sparse_files_keep_their_holes_on(VOL);
}

/// The same on a replica 3 volume.
#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn sparse_files_keep_their_holes_on_a_replica_volume() {
    sparse_files_keep_their_holes_on("grsrepb");
}

fn sparse_files_keep_their_holes_on(vol: &str) {
    let env = require_env!(vol);
    let (dir, odir) = env.scratch_dir("sparse");
    runtime().block_on(async {
        let vol = env.connect().await;
        let c = ctx();
        let parent = resolve(&vol, &dir).await;
        let (fd, _) = vol
            .create(&c, parent.gfid, b"s", libc::O_RDWR as u32, 0o644, 0)
            .await
            .unwrap();
        let size = 10u64 << 30;
        fd.ftruncate(&c, size).await.unwrap();
        fd.write(&c, 5 << 30, b"middle").await.unwrap();
        // SEEK_DATA finds the written block; SEEK_HOLE after it finds a hole.
        let data = fd.seek(&c, 0, proto::fops::SEEK_DATA).await.unwrap();
        assert!(data <= 5 << 30 && data > 0, "data at {data}");
        let hole = fd.seek(&c, 5 << 30, proto::fops::SEEK_HOLE).await.unwrap();
        assert!(hole > 5 << 30 && hole < size, "hole at {hole}");
        assert!(fd
            .read(&c, 1 << 30, 4096)
            .await
            .unwrap()
            .iter()
            .all(|&b| b == 0));
        fd.release().await;
        let m = std::fs::metadata(odir.join("s")).unwrap();
        assert_eq!(m.len(), size);
        assert!(
            m.blocks() < 1024,
            "{} blocks: the file is not sparse",
            m.blocks()
        );
        vol.close();
    });
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn open_flags_append_excl_trunc() {
    open_flags_append_excl_trunc_on(VOL);
}

/// The same on a replica 3 volume.
#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn open_flags_append_excl_trunc_on_a_replica_volume() {
    open_flags_append_excl_trunc_on("grsrepb");
}

fn open_flags_append_excl_trunc_on(vol: &str) {
    let env = require_env!(vol);
    let (dir, odir) = env.scratch_dir("flags");
    runtime().block_on(async {
        let vol = env.connect().await;
        let c = ctx();
        let parent = resolve(&vol, &dir).await;
        let (fd, st) = vol
            .create(
                &c,
                parent.gfid,
                b"a",
                (libc::O_WRONLY | libc::O_EXCL) as u32,
                0o644,
                0,
            )
            .await
            .unwrap();
        fd.write(&c, 0, b"0123456789").await.unwrap();
        fd.release().await;
        // O_EXCL on an existing name: EEXIST.
        let e = vol
            .create(
                &c,
                parent.gfid,
                b"a",
                (libc::O_WRONLY | libc::O_EXCL) as u32,
                0o644,
                0,
            )
            .await
            .unwrap_err();
        assert_eq!(e.errno(), libc::EEXIST, "{e}");
        // O_APPEND: writes land at the end whatever the offset.
        let fd = vol
            .open(&c, st.gfid, (libc::O_WRONLY | libc::O_APPEND) as u32)
            .await
            .unwrap();
        fd.write(&c, 0, b"AB").await.unwrap();
        fd.write(&c, 3, b"CD").await.unwrap();
        fd.release().await;
        assert_eq!(std::fs::read(odir.join("a")).unwrap(), b"0123456789ABCD");
        // O_TRUNC empties it.
        let fd = vol
            .open(&c, st.gfid, (libc::O_WRONLY | libc::O_TRUNC) as u32)
            .await
            .unwrap();
        assert_eq!(fd.fstat(&c).await.unwrap().size, 0);
        fd.release().await;
        vol.close();
    });
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn rename_over_existing_and_namespace_errors() {
    rename_over_existing_and_namespace_errors_on(VOL);
}

/// The same on a replica 3 volume.
#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn rename_over_existing_and_namespace_errors_on_a_replica_volume() {
    rename_over_existing_and_namespace_errors_on("grsrepb");
}

fn rename_over_existing_and_namespace_errors_on(vol: &str) {
    let env = require_env!(vol);
    let (dir, odir) = env.scratch_dir("rename");
    std::fs::write(odir.join("src"), b"new").unwrap();
    std::fs::write(odir.join("dst"), b"old").unwrap();
    runtime().block_on(async {
        let vol = env.connect().await;
        let c = ctx();
        let parent = resolve(&vol, &dir).await;
        let src = vol.lookup(&c, parent.gfid, b"src").await.unwrap();
        let moved = vol
            .rename(&c, parent.gfid, b"src", parent.gfid, b"dst")
            .await
            .unwrap();
        assert_eq!(moved.gfid, src.gfid);
        assert_eq!(
            vol.lookup(&c, parent.gfid, b"dst").await.unwrap().gfid,
            src.gfid
        );
        assert!(vol
            .lookup(&c, parent.gfid, b"src")
            .await
            .unwrap_err()
            .is_enoent());
        // Errors map to the errno the kernel expects.
        let sub = vol.mkdir(&c, parent.gfid, b"sub", 0o755, 0).await.unwrap();
        vol.mknod(&c, sub.gfid, b"x", 0o100644, 0, 0).await.unwrap();
        assert_eq!(
            vol.rmdir(&c, parent.gfid, b"sub")
                .await
                .unwrap_err()
                .errno(),
            libc::ENOTEMPTY
        );
        assert_eq!(
            vol.mkdir(&c, parent.gfid, b"sub", 0o755, 0)
                .await
                .unwrap_err()
                .errno(),
            libc::EEXIST
        );
        assert_eq!(
            vol.unlink(&c, parent.gfid, b"nope")
                .await
                .unwrap_err()
                .errno(),
            libc::ENOENT
        );
        let long = vec![b'n'; 256];
        assert_eq!(
            vol.lookup(&c, parent.gfid, &long)
                .await
                .unwrap_err()
                .errno(),
            libc::ENAMETOOLONG
        );
        vol.close();
    });
    // Checked on the brick: the official client may keep serving the old
    // name from its own inode table (it revalidates by gfid).
    let brick_dst = env
        .on_brick(&format!("{dir}/dst"))
        .expect("dst on the brick");
    assert_eq!(std::fs::read(brick_dst).unwrap(), b"new");
    assert!(env.on_brick(&format!("{dir}/src")).is_none());
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn mkdir_writes_the_layout_the_official_client_writes() {
    let env = require_env!(VOL);
    let (dir, odir) = env.scratch_dir("layout");
    std::fs::create_dir(odir.join("by-official")).unwrap();
    runtime().block_on(async {
        let vol = env.connect().await;
        let parent = resolve(&vol, &dir).await;
        vol.mkdir(&ctx(), parent.gfid, b"by-rs", 0o755, 0)
            .await
            .unwrap();
        vol.close();
    });
    let official = env.on_brick(&format!("{dir}/by-official")).unwrap();
    let ours = env.on_brick(&format!("{dir}/by-rs")).unwrap();
    let layout = brick_xattr(&official, "trusted.glusterfs.dht");
    assert!(layout.is_some());
    assert_eq!(brick_xattr(&ours, "trusted.glusterfs.dht"), layout);
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn listing_ten_thousand_entries() {
    let env = require_env!(VOL);
    let (dir, odir) = env.scratch_dir("big");
    runtime().block_on(async {
        let vol = env.connect().await;
        let c = ctx();
        let parent = resolve(&vol, &dir).await;
        // Create concurrently, 64 at a time.
        let names: Vec<String> = (0..10_000).map(|i| format!("entry-{i:05}")).collect();
        for chunk in names.chunks(64) {
            let futs = chunk
                .iter()
                .map(|n| vol.mknod(&c, parent.gfid, n.as_bytes(), 0o100644, 0, 0));
            for r in futures::future::join_all(futs).await {
                r.unwrap();
            }
        }
        let entries = vol.read_dir_all(&c, parent.gfid).await.unwrap();
        let mut got: Vec<String> = entries
            .iter()
            .filter(|e| e.name != b"." && e.name != b"..")
            .map(|e| String::from_utf8(e.name.clone()).unwrap())
            .collect();
        assert!(entries.iter().all(|e| e.name == b".." || e.stat.is_some()));
        got.sort();
        assert_eq!(got, names);
        vol.close();
    });
    assert_eq!(std::fs::read_dir(&odir).unwrap().count(), 10_000);
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn lifecycle_is_milliseconds_and_close_fails_outstanding_calls() {
    let env = require_env!(VOL);
    let (dir, _) = env.scratch_dir("life");
    runtime().block_on(async {
        // Warm-up, then time connect + one operation + close.
        env.connect().await.close();
        let mut best = Duration::MAX;
        for _ in 0..10 {
            let t = Instant::now();
            let vol = env.connect().await;
            resolve(&vol, &dir).await;
            vol.close();
            best = best.min(t.elapsed());
        }
        println!("connect + lookup + close: best {best:?}");
        assert!(best < Duration::from_secs(1), "lifecycle took {best:?}");

        // A call outstanding at close completes with ENOTCONN, at once. A
        // blocking lock behind another owner's lock stays outstanding for
        // as long as we like.
        let vol = env.connect().await;
        let parent = resolve(&vol, &dir).await;
        let (fd, _) = vol
            .create(&ctx(), parent.gfid, b"f", libc::O_RDWR as u32, 0o644, 0)
            .await
            .unwrap();
        let owner = |b: u8| client::Ctx {
            lk_owner: vec![b; 8],
            ..ctx()
        };
        let wr = client::Flock {
            kind: proto::iatt::lock::WRLCK,
            ..Default::default()
        };
        fd.lk(&owner(1), proto::iatt::lock::SETLK, &wr)
            .await
            .unwrap();
        let waiter = {
            let (fd, wr) = (fd.clone(), wr.clone());
            tokio::spawn(async move { fd.lk(&owner(2), proto::iatt::lock::SETLKW, &wr).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiter.is_finished(), "the blocking lock should wait");
        let t = Instant::now();
        vol.close();
        let r: Result<client::Flock, Error> = waiter.await.unwrap();
        let waited = t.elapsed();
        let e = r.expect_err("the lock was outstanding at close");
        assert_eq!(e.errno(), libc::ENOTCONN, "{e}");
        assert!(waited < Duration::from_millis(500), "close took {waited:?}");
    });
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn one_shot_cli_lifecycle() {
    let env = require_env!(VOL);
    let (dir, odir) = env.scratch_dir("cli");
    let bin = binary("glusterfs-rs");
    let run = |args: &[&str]| {
        let t = Instant::now();
        let out = std::process::Command::new(&bin)
            .args(args)
            .output()
            .unwrap();
        (out, t.elapsed())
    };
    let img = env.url(&format!("{dir}/img.raw"));
    let (out, took) = run(&["truncate", "-s", "10G", &img]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("truncate -s 10G: {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "one-shot truncate took {took:?}"
    );
    assert_eq!(
        std::fs::metadata(odir.join("img.raw")).unwrap().len(),
        10 << 30
    );

    // put / cat / ls / stat / mkdir / rm round trip.
    let data = pattern(9, 5 * 1024 * 1024 + 1);
    let src = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(src.path(), &data).unwrap();
    let file = env.url(&format!("{dir}/put.bin"));
    let (out, _) = run(&["put", "-f", src.path().to_str().unwrap(), &file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(odir.join("put.bin")).unwrap(), data);
    let (out, _) = run(&["cat", &file]);
    assert!(out.stdout == data);
    let (out, _) = run(&["mkdir", "-p", &env.url(&format!("{dir}/a/b/c"))]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(odir.join("a/b/c").is_dir());
    let (out, _) = run(&["ls", &env.url(&dir)]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a\nimg.raw\nput.bin\n"
    );
    let (out, _) = run(&["stat", &file]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("Size: {}", data.len())));
    let (out, _) = run(&["rm", &file]);
    assert!(out.status.success());
    assert!(eventually(5, || !odir.join("put.bin").exists()));
    let (out, _) = run(&["rm", &env.url(&format!("{dir}/a"))]);
    assert!(
        !out.status.success(),
        "rm of a directory without -d must fail"
    );
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn bad_input_gives_clear_errors() {
    let env = require_env!(VOL);
    let bin = binary("glusterfs-rs");
    let run = |args: &[&str]| {
        let t = Instant::now();
        let out = std::process::Command::new(&bin)
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{args:?} took {:?}",
            t.elapsed()
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&["ls", &format!("gluster://{}/no-such-volume/", env.host)]);
    assert!(
        e.contains(&format!(
            "volume no-such-volume does not exist on {}",
            env.host
        )),
        "{e}"
    );
    let e = run(&["ls", "gluster://127.0.0.1:1/grs1/"]);
    assert!(e.contains("cannot connect to 127.0.0.1:1"), "{e}");
    let e = run(&["ls", "http://x/y"]);
    assert!(e.contains("malformed URL"), "{e}");
    let e = run(&["ls", "gluster://host-without-volume"]);
    assert!(e.contains("malformed URL"), "{e}");
    let e = run(&["truncate", "-s", "12Q", &env.url("x")]);
    assert!(e.contains("invalid size"), "{e}");
    let e = run(&["cat", &env.url("/definitely/not/here")]);
    assert!(e.contains("No such file or directory"), "{e}");
    // A volume whose graph has a translator we do not implement yet.
    if let Some(ec) = glusterfs_rs_integration::env("grsec") {
        let e = run(&["ls", &ec.url("/")]);
        assert!(
            e.contains("grsec-disperse-0") && e.contains("cluster/disperse"),
            "{e}"
        );
    }
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn lock_and_changelog_fops() {
    use client::Flock;
    use proto::dict::{DictValue, GfxDict};
    use proto::iatt::lock;
    let env = require_env!(VOL);
    let (dir, _) = env.scratch_dir("locks");
    runtime().block_on(async {
        let vol = env.connect().await;
        let parent = resolve(&vol, &dir).await;
        let owner = |b: u8| client::Ctx {
            lk_owner: vec![b; 8],
            ..ctx()
        };
        let (fd, st) = vol
            .create(&owner(1), parent.gfid, b"f", libc::O_RDWR as u32, 0o644, 0)
            .await
            .unwrap();
        let wr = Flock {
            kind: lock::WRLCK,
            ..Default::default()
        };
        let un = Flock {
            kind: lock::UNLCK,
            ..Default::default()
        };
        // INODELK: a second owner conflicts until the first unlocks.
        vol.inodelk(&owner(1), st.gfid, "test.domain", lock::SETLK, &wr)
            .await
            .unwrap();
        let e = vol
            .inodelk(&owner(2), st.gfid, "test.domain", lock::SETLK, &wr)
            .await
            .unwrap_err();
        assert_eq!(e.errno(), libc::EAGAIN, "{e}");
        fd.finodelk(&owner(1), "test.domain", lock::SETLK, &un)
            .await
            .unwrap();
        fd.finodelk(&owner(2), "test.domain", lock::SETLK, &wr)
            .await
            .unwrap();
        fd.finodelk(&owner(2), "test.domain", lock::SETLK, &un)
            .await
            .unwrap();
        // ENTRYLK / FENTRYLK on a name in the directory.
        vol.entrylk(
            &owner(1),
            parent.gfid,
            "test.domain",
            Some(b"x"),
            lock::ENTRYLK_LOCK,
            lock::WRLCK,
        )
        .await
        .unwrap();
        let e = vol
            .entrylk(
                &owner(2),
                parent.gfid,
                "test.domain",
                Some(b"x"),
                lock::ENTRYLK_LOCK_NB,
                lock::WRLCK,
            )
            .await
            .unwrap_err();
        assert_eq!(e.errno(), libc::EAGAIN, "{e}");
        let dirfd = vol.opendir(&ctx(), parent.gfid).await.unwrap();
        dirfd
            .fentrylk(
                &owner(1),
                "test.domain",
                Some(b"x"),
                lock::ENTRYLK_UNLOCK,
                lock::WRLCK,
            )
            .await
            .unwrap();
        // Plain READDIR lists names without attributes.
        let names: Vec<Vec<u8>> = dirfd
            .readdir(&ctx(), 0, 4096)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert!(names.contains(&b"f".to_vec()));
        dirfd.release().await;
        // XATTROP / FXATTROP add big-endian int32 arrays.
        let one =
            || GfxDict::new().with("user.counter", DictValue::Ptr(vec![0, 0, 0, 1, 0, 0, 0, 2]));
        vol.xattrop(&ctx(), st.gfid, 0, one()).await.unwrap();
        let r = fd.fxattrop(&ctx(), 0, one()).await.unwrap();
        assert_eq!(
            r.get("user.counter"),
            Some(&DictValue::Ptr(vec![0, 0, 0, 2, 0, 0, 0, 4]))
        );
        fd.fremovexattr(&ctx(), "user.counter").await.unwrap();
        assert_eq!(
            vol.getxattr(&ctx(), st.gfid, "user.counter")
                .await
                .unwrap_err()
                .errno(),
            libc::ENODATA
        );
        // POSIX locks through LK: the owner travels in the credential.
        let got = fd.lk(&owner(3), lock::SETLK, &wr).await.unwrap();
        assert_eq!(got.kind, lock::WRLCK);
        let e = fd.lk(&owner(4), lock::SETLK, &wr).await.unwrap_err();
        assert_eq!(e.errno(), libc::EAGAIN);
        let conflict = fd.lk(&owner(4), lock::GETLK, &wr).await.unwrap();
        assert_eq!(conflict.lk_owner, vec![3; 8]);
        fd.lk(&owner(3), lock::SETLK, &un).await.unwrap();
        let st = vol.statfs(&ctx(), st.gfid).await.unwrap();
        assert!(st.blocks > 0 && st.namemax == 255);
        fd.release().await;
        vol.close();
    });
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn refused_authentication_is_a_clear_error() {
    let env = require_env!("grsauth");
    runtime().block_on(async {
        let e = client::Volume::connect(
            std::slice::from_ref(&env.host),
            "grsauth",
            Default::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.errno(), libc::EACCES, "{e}");
        assert!(e.to_string().contains("authentication failed"), "{e}");
        assert!(e.to_string().contains("grsauth-client-0"), "{e}");
    });
}
