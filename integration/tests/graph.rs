//! The translator graph against a real server: RENAME_NOREPLACE decided
//! under the target's namespace lock, fds that outlive a graph switch, and
//! what the translators hide.

use glusterfs_rs_integration::*;

/// Two clients race to rename their own file onto one name with
/// RENAME_NOREPLACE: exactly one wins, the other gets EEXIST, and no file
/// is lost (a lookup-then-rename would let both succeed and drop one).
fn noreplace_race(volume: &str) {
    let env = require_env!(volume);
    let (dir, odir) = env.scratch_dir("noreplace");
    runtime().block_on(async {
        let (a, b) = (env.connect().await, env.connect().await);
        let c = ctx();
        let parent = resolve(&a, &dir).await;
        for round in 0..20u32 {
            let (na, nb) = (format!("a{round}"), format!("b{round}"));
            let target = format!("t{round}");
            for (v, n) in [(&a, &na), (&b, &nb)] {
                let (fd, _) = v
                    .create(&c, parent.gfid, n.as_bytes(), libc::O_RDWR as u32, 0o644, 0)
                    .await
                    .unwrap();
                fd.write(&c, 0, n.as_bytes()).await.unwrap();
                fd.release().await;
            }
            let ra = a.rename_noreplace(
                &c,
                parent.gfid,
                na.as_bytes(),
                parent.gfid,
                target.as_bytes(),
            );
            let rb = b.rename_noreplace(
                &c,
                parent.gfid,
                nb.as_bytes(),
                parent.gfid,
                target.as_bytes(),
            );
            let (ra, rb) = tokio::join!(ra, rb);
            assert!(ra.is_ok() != rb.is_ok(), "round {round}: {ra:?} / {rb:?}");
            let loser = if ra.is_ok() { &nb } else { &na };
            let err = ra.err().or(rb.err()).unwrap();
            assert_eq!(err.errno(), libc::EEXIST, "{err}");
            // The loser's file is still there, the winner's is the target.
            let winner = if loser == &na { &nb } else { &na };
            assert_eq!(std::fs::read(odir.join(loser)).unwrap(), loser.as_bytes());
            assert_eq!(
                std::fs::read(odir.join(&target)).unwrap(),
                winner.as_bytes()
            );
        }
        // Onto a missing name it is a plain rename.
        a.rename_noreplace(&c, parent.gfid, b"t0", parent.gfid, b"fresh")
            .await
            .unwrap();
        // (The official client's entry cache may need its second.)
        assert!(eventually(5, || odir.join("fresh").exists()
            && !odir.join("t0").exists()));
        a.close();
        b.close();
    });
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn rename_noreplace_is_atomic_on_one_brick() {
    noreplace_race("grs1");
}

#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn rename_noreplace_is_atomic_on_distribute() {
    noreplace_race("grs2");
}

/// Distribute's internal xattrs are declared by the translator, and the
/// graph is a tree of the volume's translators.
#[test]
#[cfg_attr(
    not(glusterfs_server),
    ignore = "no GlusterFS test server: run integration/run-tests"
)]
fn graph_tree_and_hidden_xattrs() {
    let env = require_env!("grs2");
    runtime().block_on(async {
        let vol = env.connect().await;
        let top = vol.top();
        let mut types = Vec::new();
        let mut stack = vec![top];
        while let Some(x) = stack.pop() {
            types.push(x.xl_type().to_string());
            stack.extend(x.children().iter().cloned());
        }
        assert!(
            types.contains(&"cluster/distribute".to_string()),
            "{types:?}"
        );
        assert_eq!(
            types.iter().filter(|t| *t == "protocol/client").count(),
            2,
            "{types:?}"
        );
        assert!(vol.hides_xattr(b"trusted.glusterfs.dht.linkto"));
        assert!(!vol.hides_xattr(b"user.x"));
        vol.close();
    });
}
