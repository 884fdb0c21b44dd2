//! cluster/distribute against a real server and the official client:
//! placement and layouts identical to the official client's, both clients
//! renaming, linking and deleting each other's files with correct linkto
//! files on the bricks, a 10,000-entry listing with telldir/seekdir, and
//! add-brick + rebalance (and an option change) while glusterfs-rs is
//! mounted and doing I/O.

use client::dht_hash::name_hash;
use client::dht_layout::{Layout, Range};
use glusterfs_rs_integration::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LINKTO: &str = "trusted.glusterfs.dht.linkto";
const LAYOUT: &str = "trusted.glusterfs.dht";

/// Each brick's layout xattr of directory `rel`.
fn layouts(bricks: &[PathBuf], rel: &str) -> Vec<Option<Vec<u8>>> {
    bricks
        .iter()
        .map(|b| brick_xattr(&b.join(rel), LAYOUT))
        .collect()
}

fn layout_of(bricks: &[PathBuf], rel: &str) -> Layout {
    Layout {
        ranges: layouts(bricks, rel)
            .iter()
            .map(|v| v.as_deref().and_then(Range::decode))
            .collect(),
    }
}

fn is_linkto_file(p: &Path) -> bool {
    p.symlink_metadata().is_ok_and(|m| {
        m.is_file() && m.mode() & 0o7777 == 0o1000 && brick_xattr(p, LINKTO).is_some()
    })
}

/// The bricks holding the data of `rel` (not counting linkto files).
fn data_bricks(bricks: &[PathBuf], rel: &str) -> Vec<usize> {
    (0..bricks.len())
        .filter(|&i| {
            let p = bricks[i].join(rel);
            p.symlink_metadata().is_ok() && !is_linkto_file(&p)
        })
        .collect()
}

/// A name set that exercises the hash: plain, rsync temporaries, UTF-8
/// (signed tail bytes), long names.
fn names(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 10 {
            0 => format!(".file{i}.tmp{i:06}"),
            1 => format!("é{i}ß"),
            2 => format!("{}{i}", "n".repeat(200)),
            3 => format!("日本語-{i}"),
            _ => format!("file{i}"),
        })
        .collect()
}

fn create_files(dir: &Path, names: &[String]) {
    std::thread::scope(|s| {
        for chunk in names.chunks(names.len().div_ceil(8)) {
            s.spawn(move || {
                for n in chunk {
                    fs::write(dir.join(n), n.as_bytes()).unwrap_or_else(|e| panic!("{n}: {e}"));
                }
            });
        }
    });
}

/// Where each name of `rel` is, checked against the hash and the layout
/// the bricks hold: exactly one data file, on the hashed brick.
fn placement(env: &TestEnv, rel: &str, names: &[String]) -> BTreeMap<String, usize> {
    let layout = layout_of(&env.bricks, rel);
    assert!(layout.is_complete(), "{rel}: layout {layout:?}");
    names
        .iter()
        .map(|n| {
            let at = data_bricks(&env.bricks, &format!("{rel}/{n}"));
            assert_eq!(at.len(), 1, "{rel}/{n} on bricks {at:?}");
            let hashed = layout.search(name_hash(n.as_bytes()));
            assert_eq!(
                hashed,
                Some(at[0]),
                "{rel}/{n}: data not on its hashed brick"
            );
            (n.clone(), at[0])
        })
        .collect()
}

fn mds_bricks(env: &TestEnv, rel: &str) -> Vec<usize> {
    (0..env.bricks.len())
        .filter(|&i| brick_xattr(&env.bricks[i].join(rel), "trusted.glusterfs.dht.mds").is_some())
        .collect()
}

/// 1000 files and two directory levels made by glusterfs-rs, removed,
/// then made again with the same names by the official client: layouts,
/// MDS markers and placement must be identical.
fn same_placement_as_official(vol: &str) {
    let env = require_env!(vol);
    let m = env.mount_rs("place", "");
    let top = format!("place-{}", uuid::Uuid::new_v4().simple());
    let rel = format!("{top}/sub");
    let names = names(1000);

    fs::create_dir_all(m.dir.join(&rel)).unwrap();
    create_files(&m.dir.join(&rel), &names);
    let rs_layouts = (layouts(&env.bricks, &top), layouts(&env.bricks, &rel));
    let rs_mds = (mds_bricks(&env, &top), mds_bricks(&env, &rel));
    let rs_place = placement(&env, &rel, &names);
    assert_eq!(fs::read_dir(m.dir.join(&rel)).unwrap().count(), names.len());

    // Removal through glusterfs-rs leaves nothing on any brick.
    fs::remove_dir_all(m.dir.join(&top)).unwrap();
    for b in &env.bricks {
        assert!(!b.join(&top).exists(), "{} still has {top}", b.display());
    }

    settle_official();
    fs::create_dir_all(env.official.join(&rel)).unwrap();
    create_files(&env.official.join(&rel), &names);
    let of_layouts = (layouts(&env.bricks, &top), layouts(&env.bricks, &rel));
    let of_place = placement(&env, &rel, &names);
    assert_eq!(
        rs_layouts, of_layouts,
        "directory layouts differ from the official client's"
    );
    assert_eq!(rs_mds, (mds_bricks(&env, &top), mds_bricks(&env, &rel)));
    assert_eq!(rs_place, of_place);
    let used: std::collections::BTreeSet<_> = rs_place.values().collect();
    assert_eq!(used.len(), env.bricks.len(), "every brick got files");

    // And glusterfs-rs finds and reads what the official client made.
    for n in names.iter().step_by(7) {
        assert_eq!(fs::read(m.dir.join(&rel).join(n)).unwrap(), n.as_bytes());
    }
    fs::remove_dir_all(env.official.join(&top)).unwrap();
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn placement_and_layouts_match_the_official_client_2_bricks() {
    same_placement_as_official("grs2");
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn placement_and_layouts_match_the_official_client_4_bricks() {
    same_placement_as_official("grsdist4");
}

/// After a rename the data stays where it was and the new name's hashed
/// brick holds a linkto to it (unless the data is there).
fn check_linkto(env: &TestEnv, vol: &str, rel_dir: &str, name: &str) {
    let rel = format!("{rel_dir}/{name}");
    let data = data_bricks(&env.bricks, &rel);
    assert_eq!(data.len(), 1, "{rel}: data on {data:?}");
    let hashed = layout_of(&env.bricks, rel_dir)
        .search(name_hash(name.as_bytes()))
        .unwrap();
    let links: Vec<usize> = (0..env.bricks.len())
        .filter(|&i| is_linkto_file(&env.bricks[i].join(&rel)))
        .collect();
    if hashed == data[0] {
        assert!(links.is_empty(), "{rel}: needless linkto on {links:?}");
    } else {
        assert_eq!(
            links,
            vec![hashed],
            "{rel}: linkto expected on the hashed brick"
        );
        let target = brick_xattr(&env.bricks[hashed].join(&rel), LINKTO).unwrap();
        assert_eq!(target, format!("{vol}-client-{}\0", data[0]).into_bytes());
        assert_eq!(
            brick_gfid(&env.bricks[hashed].join(&rel)),
            brick_gfid(&env.bricks[data[0]].join(&rel))
        );
    }
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn both_clients_rename_link_and_delete_each_others_files() {
    const VOL: &str = "grs2";
    let env = require_env!(VOL);
    let m = env.mount_rs("mixed", "");
    let (dir, odir) = env.scratch_dir("mixed");
    let rdir = m.dir.join(&dir);
    let n = 40;
    for i in 0..n {
        fs::write(odir.join(format!("o{i}")), pattern(i, 3000 + i as usize)).unwrap();
        fs::write(rdir.join(format!("r{i}")), pattern(100 + i, 5000)).unwrap();
    }
    settle_official();
    for i in 0..n {
        assert_eq!(
            fs::read(rdir.join(format!("o{i}"))).unwrap(),
            pattern(i, 3000 + i as usize)
        );
        assert_eq!(
            fs::read(odir.join(format!("r{i}"))).unwrap(),
            pattern(100 + i, 5000)
        );
    }
    // Each renames the other's files (many cross bricks), then links them.
    for i in 0..n {
        fs::rename(rdir.join(format!("o{i}")), rdir.join(format!("x{i}"))).unwrap();
        fs::rename(odir.join(format!("r{i}")), odir.join(format!("y{i}"))).unwrap();
    }
    for i in 0..n {
        check_linkto(&env, VOL, &dir, &format!("x{i}"));
        check_linkto(&env, VOL, &dir, &format!("y{i}"));
    }
    // Linkto files never show: every name once in the listing.
    let mut listed: Vec<String> = fs::read_dir(&rdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    listed.sort();
    let mut want: Vec<String> = (0..n)
        .flat_map(|i| [format!("x{i}"), format!("y{i}")])
        .collect();
    want.sort();
    assert_eq!(listed, want);
    settle_official();
    for i in 0..n {
        fs::hard_link(rdir.join(format!("y{i}")), rdir.join(format!("hy{i}"))).unwrap();
        fs::hard_link(odir.join(format!("x{i}")), odir.join(format!("hx{i}"))).unwrap();
    }
    settle_official();
    for i in 0..n {
        let want = pattern(i, 3000 + i as usize);
        assert_eq!(fs::read(odir.join(format!("x{i}"))).unwrap(), want);
        assert_eq!(fs::read(rdir.join(format!("hx{i}"))).unwrap(), want);
        assert_eq!(
            fs::read(odir.join(format!("hy{i}"))).unwrap(),
            pattern(100 + i, 5000)
        );
        check_linkto(&env, VOL, &dir, &format!("hx{i}"));
        check_linkto(&env, VOL, &dir, &format!("hy{i}"));
        let a = fs::metadata(rdir.join(format!("y{i}"))).unwrap();
        let b = fs::metadata(rdir.join(format!("hy{i}"))).unwrap();
        assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    }
    // Rename over an existing file of the other client, back and forth.
    fs::rename(rdir.join("x0"), rdir.join("y1")).unwrap();
    settle_official();
    assert_eq!(fs::read(odir.join("y1")).unwrap(), pattern(0, 3000));
    check_linkto(&env, VOL, &dir, "y1");
    // Deletes by the other client leave nothing behind on the bricks.
    for i in 0..n {
        let _ = fs::remove_file(odir.join(format!("x{i}")));
        fs::remove_file(odir.join(format!("hx{i}"))).unwrap();
        fs::remove_file(rdir.join(format!("hy{i}"))).unwrap();
        let _ = fs::remove_file(rdir.join(format!("y{i}")));
    }
    fs::remove_file(odir.join("y1")).unwrap_or_default();
    settle_official();
    let left: Vec<_> = fs::read_dir(&rdir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left in the listing: {left:?}");
    for b in &env.bricks {
        let on_brick: Vec<_> = fs::read_dir(b.join(&dir))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(on_brick.is_empty(), "{}: {on_brick:?}", b.display());
    }
    fs::remove_dir(&rdir).unwrap();
    for b in &env.bricks {
        assert!(!b.join(&dir).exists());
    }
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn directory_rename_and_listing_of_ten_thousand_entries() {
    const VOL: &str = "grsdist4";
    let env = require_env!(VOL);
    let m = env.mount_rs("big", "");
    let name = format!("big-{}", uuid::Uuid::new_v4().simple());
    let d = m.dir.join(&name);
    fs::create_dir(&d).unwrap();
    let total = 10_000;
    let rt = runtime();
    rt.block_on(async {
        let vol = env.connect().await;
        let dir = resolve(&vol, &name).await;
        let c = ctx();
        let mut pending = futures::stream::FuturesUnordered::new();
        use futures::StreamExt;
        for i in 0..total {
            let (vol, c) = (vol.clone(), c.clone());
            pending.push(async move {
                let fname = format!("e{i:05}");
                if i % 100 == 0 {
                    vol.mkdir(&c, dir.gfid, fname.as_bytes(), 0o755, 0)
                        .await
                        .map(|_| ())
                } else {
                    vol.mknod(&c, dir.gfid, fname.as_bytes(), 0o100644, 0, 0)
                        .await
                        .map(|_| ())
                }
            });
            if pending.len() >= 64 {
                pending.next().await.unwrap().unwrap();
            }
        }
        while let Some(r) = pending.next().await {
            r.unwrap();
        }
        vol.close();
    });
    let listed: Vec<String> = fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let unique: std::collections::BTreeSet<_> = listed.iter().collect();
    assert_eq!(listed.len(), total, "entries listed");
    assert_eq!(unique.len(), total, "every name once");
    settle_official();
    assert_eq!(
        fs::read_dir(env.official.join(&name)).unwrap().count(),
        total
    );

    // telldir/seekdir across calls: resume mid-listing, twice.
    let cpath = std::ffi::CString::new(d.as_os_str().as_encoded_bytes()).unwrap();
    unsafe {
        let dp = libc::opendir(cpath.as_ptr());
        assert!(!dp.is_null());
        let read_name = |dp| {
            let e = libc::readdir(dp);
            (!e.is_null()).then(|| std::ffi::CStr::from_ptr((*e).d_name.as_ptr()).to_owned())
        };
        for _ in 0..4321 {
            read_name(dp).unwrap();
        }
        let pos = libc::telldir(dp);
        let rest: Vec<_> = std::iter::from_fn(|| read_name(dp)).collect();
        libc::seekdir(dp, pos);
        let again: Vec<_> = std::iter::from_fn(|| read_name(dp)).collect();
        assert_eq!(rest, again);
        assert_eq!(rest.len() + 4321, total + 2); // with . and ..
        libc::closedir(dp);
    }

    // A directory rename keeps every entry and the layouts.
    let before = layouts(&env.bricks, &name);
    let renamed = format!("{name}-renamed");
    fs::rename(&d, m.dir.join(&renamed)).unwrap();
    assert_eq!(layouts(&env.bricks, &renamed), before);
    assert_eq!(fs::read_dir(m.dir.join(&renamed)).unwrap().count(), total);
    // Not empty: rmdir refuses on every brick's behalf.
    let e = fs::remove_dir(m.dir.join(&renamed)).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOTEMPTY));
    fs::remove_dir_all(m.dir.join(&renamed)).unwrap();
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn directory_xattrs_attributes_and_statfs_over_all_bricks() {
    const VOL: &str = "grsdist4";
    let env = require_env!(VOL);
    let m = env.mount_rs("dirattr", "");
    let (dir, odir) = env.scratch_dir("dirattr");
    let d = m.dir.join(&dir);
    let set = |p: &Path, k: &str, v: &str| {
        run_ok(Command::new("setfattr").args(["-n", k, "-v", v]).arg(p));
    };
    set(&d, "user.color", "blue");
    for b in &env.bricks {
        assert_eq!(
            brick_xattr(&b.join(&dir), "user.color").as_deref(),
            Some(&b"blue"[..])
        );
    }
    // The MDS counter is back to 0 after a complete update.
    let mds = mds_bricks(&env, &dir);
    assert_eq!(mds.len(), 1);
    assert_eq!(
        brick_xattr(&env.bricks[mds[0]].join(&dir), "trusted.glusterfs.dht.mds"),
        Some(vec![0; 4])
    );
    settle_official();
    let got = run_ok(
        Command::new("getfattr")
            .args(["--only-values", "-n", "user.color"])
            .arg(&odir),
    );
    assert_eq!(got, "blue");
    run_ok(Command::new("setfattr").args(["-x", "user.color"]).arg(&d));
    for b in &env.bricks {
        assert_eq!(brick_xattr(&b.join(&dir), "user.color"), None);
    }
    // Mode and owner reach every copy; stat shows the directory as the
    // official client does (size 4096).
    fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(&d, Some(1234), Some(4321)).unwrap();
    for b in &env.bricks {
        let md = fs::metadata(b.join(&dir)).unwrap();
        assert_eq!(
            (md.mode() & 0o7777, md.uid(), md.gid()),
            (0o750, 1234, 4321)
        );
    }
    settle_official();
    let (a, o) = (fs::metadata(&d).unwrap(), fs::metadata(&odir).unwrap());
    assert_eq!(
        (a.size(), a.mode(), a.uid(), a.ino()),
        (o.size(), o.mode(), o.uid(), o.ino())
    );
    assert_eq!(a.size(), 4096);
    // statfs: the sum over the bricks, as the official client reports.
    let vfs = |p: &Path| {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
        (st.f_blocks * st.f_frsize, st.f_files)
    };
    let (ours, theirs) = (vfs(&m.dir), vfs(&env.official));
    assert_eq!(ours.0, theirs.0, "total bytes");
    assert_eq!(ours.1, theirs.1, "total inodes");
    fs::remove_dir(&d).unwrap();
}

/// A directory whose layout was lost on every brick (as the root of a new
/// volume, or after a brick replacement) is laid out again on lookup, the
/// way the official client heals it: the same ranges, commit 1.
#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn lookup_heals_a_lost_layout_as_the_official_client_does() {
    const VOL: &str = "grsdist4";
    let env = require_env!(VOL);
    let (dir, odir) = env.scratch_dir("heal");
    let strip = || {
        for b in &env.bricks {
            run_ok(
                Command::new("setfattr")
                    .args(["-x", LAYOUT])
                    .arg(b.join(&dir)),
            );
        }
        assert!(layouts(&env.bricks, &dir).iter().all(Option::is_none));
    };
    strip();
    // Our fresh mount finds the holes and heals them.
    let m = env.mount_rs("heal", "");
    fs::write(m.dir.join(&dir).join("after-heal"), b"x").unwrap();
    let ours = layouts(&env.bricks, &dir);
    let l = layout_of(&env.bricks, &dir);
    assert!(l.is_complete(), "{l:?}");
    assert!(l.ranges.iter().flatten().all(|r| r.commit == 1));
    // The official client heals the same directory the same way.
    strip();
    settle_official();
    let official = OfficialMount::new(&TestEnv {
        official: env
            .mount_base()
            .join(format!("official-heal-{}", uuid::Uuid::new_v4().simple())),
        ..env.clone()
    });
    assert!(official.dir.join(&dir).join("after-heal").exists());
    assert!(eventually(5, || layouts(&env.bricks, &dir)
        .iter()
        .all(Option::is_some)));
    assert_eq!(layouts(&env.bricks, &dir), ours);
    fs::remove_dir_all(&odir).unwrap();
}

// ---- volume changes while mounted ----

fn gluster(args: &[&str]) -> Result<String, String> {
    let out = Command::new("gluster")
        .arg("--mode=script")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// A throwaway volume for tests that change it. Removed on drop.
struct GrowVolume {
    name: String,
    base: PathBuf,
}

impl GrowVolume {
    fn brick(&self, i: usize) -> PathBuf {
        self.base.join(format!("b{i}"))
    }

    fn spec(&self, host: &str, i: usize) -> String {
        format!("{host}:{}", self.brick(i).display())
    }

    fn create(env: &TestEnv, name: &str) -> GrowVolume {
        let root = std::env::var("GLUSTERFS_RS_TEST_DIR")
            .unwrap_or_else(|_| "/var/tmp/glusterfs-rs-test/bricks".into());
        let v = GrowVolume {
            name: name.into(),
            base: Path::new(&root).join(name),
        };
        v.destroy(); // what an earlier run left
        fs::create_dir_all(&v.base).unwrap();
        let bricks: Vec<String> = (1..=2).map(|i| v.spec(&env.host, i)).collect();
        let mut args = vec!["volume", "create", name];
        args.extend(bricks.iter().map(String::as_str));
        args.push("force");
        gluster(&args).unwrap();
        gluster(&["volume", "start", name]).unwrap();
        v
    }

    fn destroy(&self) {
        let _ = gluster(&["volume", "stop", &self.name, "force"]);
        let _ = gluster(&["volume", "delete", &self.name]);
        let _ = fs::remove_dir_all(&self.base);
    }
}

impl Drop for GrowVolume {
    fn drop(&mut self) {
        self.destroy();
    }
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn add_brick_and_rebalance_while_mounted_and_busy() {
    let base_env = require_env!("grs2");
    let grow = GrowVolume::create(&base_env, "grsgrow");
    let env = TestEnv {
        volume: grow.name.clone(),
        official: base_env.mount_base().join("official-grsgrow"),
        bricks: (1..=2).map(|i| grow.brick(i)).collect(),
        ..base_env.clone()
    };
    let m = env.mount_rs("grow", "");
    let official = OfficialMount::new(&env);

    // An option change reaches the mounted client: with min-free-disk
    // 99% every brick is "full", new files go to the roomiest brick with
    // a linkto on their hashed one, as the official client does.
    fs::create_dir(m.dir.join("full")).unwrap();
    gluster(&["volume", "set", &env.volume, "cluster.min-free-disk", "99%"]).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    fs::write(m.dir.join("full/warmup"), b"w").unwrap(); // refreshes free-space data
    std::thread::sleep(Duration::from_millis(1200));
    let full_names: Vec<String> = (0..30).map(|i| format!("f{i}")).collect();
    for n in &full_names {
        fs::write(m.dir.join("full").join(n), n.as_bytes()).unwrap();
    }
    let linktos = full_names
        .iter()
        .filter(|n| (0..2).any(|i| is_linkto_file(&grow.brick(i + 1).join("full").join(n))))
        .count();
    assert!(
        linktos > 0,
        "no file was redirected after the option change"
    );
    for n in &full_names {
        check_linkto(&env, &env.volume, "full", n);
        assert_eq!(
            fs::read(official.dir.join("full").join(n)).unwrap(),
            n.as_bytes()
        );
    }
    gluster(&["volume", "reset", &env.volume, "cluster.min-free-disk"]).unwrap();

    // Data to move, then I/O that runs through the rebalance.
    fs::create_dir(m.dir.join("data")).unwrap();
    let files = 200usize;
    for i in 0..files {
        fs::write(
            m.dir.join(format!("data/d{i}")),
            pattern(i as u64, 64 * 1024),
        )
        .unwrap();
    }
    // Files kept open across the migration: their fds must follow.
    let held: Vec<fs::File> = (0..files)
        .map(|i| fs::File::open(m.dir.join(format!("data/d{i}"))).unwrap())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, path) = (stop.clone(), m.dir.join("data/log"));
        std::thread::spawn(move || {
            let f = fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)
                .unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) || n < 50 {
                f.write_all_at(&pattern(1000 + n, 4096), n * 4096)
                    .unwrap_or_else(|e| panic!("write {n} during rebalance: {e}"));
                n += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            f.sync_all().unwrap();
            n
        })
    };
    let reader = {
        let (stop, dir) = (stop.clone(), m.dir.join("data"));
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) {
                for i in (0..files).step_by(13) {
                    let got = fs::read(dir.join(format!("d{i}")))
                        .unwrap_or_else(|e| panic!("read d{i} during rebalance: {e}"));
                    assert!(got == pattern(i as u64, 64 * 1024), "d{i} read back wrong");
                }
                rounds += 1;
            }
            rounds
        })
    };

    let b3 = grow.spec(&env.host, 3);
    gluster(&["volume", "add-brick", &env.volume, &b3, "force"]).unwrap();
    gluster(&["volume", "rebalance", &env.volume, "start"]).unwrap();
    let t = Instant::now();
    let done = eventually(180, || {
        gluster(&["volume", "rebalance", &env.volume, "status"])
            .is_ok_and(|s| s.contains("completed") && !s.contains("in progress"))
    });
    let status = gluster(&["volume", "rebalance", &env.volume, "status"]).unwrap_or_default();
    assert!(done, "rebalance did not complete: {status}");
    println!("rebalance took {:?}:\n{status}", t.elapsed());
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().expect("writer");
    let rounds = reader.join().expect("reader");
    println!("{written} writes and {rounds} read rounds during the rebalance");

    let bricks3: Vec<PathBuf> = (1..=3).map(|i| grow.brick(i)).collect();
    let moved = (0..files)
        .filter(|i| data_bricks(&bricks3, &format!("data/d{i}")) == vec![2])
        .count();
    assert!(moved > 0, "the rebalance moved nothing to the new brick");
    println!("{moved} of {files} files moved to the new brick");
    for (i, f) in held.iter().enumerate() {
        let mut got = vec![0; 64 * 1024];
        f.read_exact_at(&mut got, 0)
            .unwrap_or_else(|e| panic!("d{i} through an fd opened before the rebalance: {e}"));
        assert!(
            got == pattern(i as u64, 64 * 1024),
            "d{i} read through an old fd"
        );
    }
    drop(held);
    settle_official();
    for i in 0..files {
        let want = pattern(i as u64, 64 * 1024);
        assert_eq!(
            fs::read(m.dir.join(format!("data/d{i}"))).unwrap(),
            want,
            "d{i} via glusterfs-rs"
        );
        assert_eq!(
            fs::read(official.dir.join(format!("data/d{i}"))).unwrap(),
            want,
            "d{i} via official"
        );
    }
    let log = fs::read(m.dir.join("data/log")).unwrap();
    let log_official = fs::read(official.dir.join("data/log")).unwrap();
    assert_eq!(log.len() as u64, written * 4096);
    for n in 0..written {
        let at = (n * 4096) as usize;
        assert_eq!(
            &log[at..at + 4096],
            &pattern(1000 + n, 4096)[..],
            "log block {n}"
        );
    }
    assert_eq!(log, log_official);

    // The mounted client uses the new graph: a new directory spreads over
    // three bricks, exactly as the official client lays it out.
    fs::create_dir(m.dir.join("after")).unwrap();
    let l = layout_of(&bricks3, "after");
    assert!(
        l.is_complete()
            && l.ranges
                .iter()
                .flatten()
                .filter(|r| r.participates())
                .count()
                == 3
    );
    let rs_layout = layouts(&bricks3, "after");
    fs::remove_dir(m.dir.join("after")).unwrap();
    settle_official();
    fs::create_dir(official.dir.join("after")).unwrap();
    assert_eq!(layouts(&bricks3, "after"), rs_layout);

    // remove-brick of the first brick: its files move off while we hold
    // fds on them, and after the commit the graph has two subvolumes.
    let held: Vec<(usize, fs::File)> = (0..files)
        .filter(|i| data_bricks(&bricks3, &format!("data/d{i}")) == vec![0])
        .map(|i| (i, fs::File::open(m.dir.join(format!("data/d{i}"))).unwrap()))
        .collect();
    assert!(!held.is_empty());
    let b1 = grow.spec(&env.host, 1);
    gluster(&["volume", "remove-brick", &env.volume, &b1, "start"]).unwrap();
    let done = eventually(180, || {
        gluster(&["volume", "remove-brick", &env.volume, &b1, "status"])
            .is_ok_and(|s| s.contains("completed") && !s.contains("in progress"))
    });
    assert!(done, "remove-brick did not complete");
    // New files avoid the brick being removed.
    fs::write(m.dir.join("data/late"), b"late").unwrap();
    assert_ne!(data_bricks(&bricks3, "data/late"), vec![0]);
    gluster(&["volume", "remove-brick", &env.volume, &b1, "commit"]).unwrap();
    let bricks23 = &bricks3[1..];
    for (i, f) in &held {
        let mut got = vec![0; 64 * 1024];
        f.read_exact_at(&mut got, 0)
            .unwrap_or_else(|e| panic!("d{i} through an fd opened before remove-brick: {e}"));
        assert!(
            got == pattern(*i as u64, 64 * 1024),
            "d{i} after remove-brick"
        );
    }
    drop(held);
    for i in 0..files {
        assert_eq!(
            data_bricks(bricks23, &format!("data/d{i}")).len(),
            1,
            "d{i}"
        );
        assert_eq!(
            fs::read(m.dir.join(format!("data/d{i}"))).unwrap(),
            pattern(i as u64, 64 * 1024)
        );
    }
    assert_eq!(fs::read(m.dir.join("data/late")).unwrap(), b"late");
    assert!(eventually(10, || {
        let _ = fs::remove_dir(m.dir.join("two"));
        fs::create_dir(m.dir.join("two")).is_ok()
            && layout_of(bricks23, "two").is_complete()
            && !bricks3[0].join("two").exists()
    }));
}

/// The official client mounted on a test's own volume.
struct OfficialMount {
    dir: PathBuf,
}

impl OfficialMount {
    fn new(env: &TestEnv) -> OfficialMount {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("gluster-env.sh");
        run_ok(
            Command::new(script)
                .arg("official-mount")
                .arg(&env.volume)
                .arg(&env.official),
        );
        OfficialMount {
            dir: env.official.clone(),
        }
    }
}

impl Drop for OfficialMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).output();
        let _ = fs::remove_dir(&self.dir);
    }
}
