//! From the graph's spec tree to running translators: one builder per
//! volfile type. Adding a translator is a new file implementing
//! [`Xlator`] plus one line in [`REGISTRY`].
//!
//! A rebuild (graph switch) reuses every subtree whose spec did not
//! change, so unchanged bricks keep their connections and with them every
//! open fd and lock.

use crate::client_xl::ClientXl;
use crate::distribute::{DhtOptions, Distribute};
use crate::error::{Error, Result};
use crate::graph::{client_spec, Graph, XlSpec};
use crate::mgmt::Mgmt;
use crate::protocol_client::Brick;
use crate::replicate::Replicate;
use crate::utime::UtimeXl;
use crate::xlator::Xlator;
use parking_lot::Mutex;
use rpc::ConnectionOptions;
use std::sync::Arc;

/// What builders need besides the spec and the built children.
pub struct BuildEnv<'a> {
    pub volume: &'a str,
    pub conn_opts: &'a ConnectionOptions,
    /// The glusterd bricks ask for their port (None: each brick connects
    /// to glusterd on its own host when it first needs to).
    pub mgmt: Option<&'a Mgmt>,
    pub process_name: &'a str,
    /// The bricks made by this build (to connect them before use).
    pub new_bricks: Mutex<Vec<Arc<Brick>>>,
}

type Builder = fn(&XlSpec, Vec<Arc<dyn Xlator>>, &BuildEnv) -> Result<Arc<dyn Xlator>>;

/// Every translator glusterfs-rs runs, by volfile type.
const REGISTRY: &[(&str, Builder)] = &[
    ("protocol/client", client),
    ("cluster/distribute", distribute),
    ("cluster/replicate", replicate),
    ("features/utime", utime),
];

/// Whether `xl_type` has a builder.
pub fn implemented(xl_type: &str) -> bool {
    REGISTRY.iter().any(|(t, _)| *t == xl_type)
}

/// A running graph: its top and every node with the spec it was built
/// from (for reuse by the next build).
#[derive(Clone)]
pub struct Built {
    pub top: Arc<dyn Xlator>,
    pub nodes: Vec<(XlSpec, Arc<dyn Xlator>)>,
    pub bricks: Vec<Arc<Brick>>,
}

impl Built {
    /// Connects the bricks this graph has and `old` had not, all at once;
    /// the first failure is returned (a brick that is down is retried on
    /// use anyway).
    pub async fn connect_new(&self, old: Option<&Built>) -> Result<()> {
        let fresh = self
            .bricks
            .iter()
            .filter(|b| old.is_none_or(|o| !o.bricks.iter().any(|ob| Arc::ptr_eq(ob, b))));
        let all = futures::future::join_all(fresh.map(|b| b.session())).await;
        all.into_iter().try_for_each(|r| r.map(drop))
    }

    /// Closes every brick connection now.
    pub fn close(&self) {
        for b in &self.bricks {
            b.close();
        }
    }

    /// The bricks' volfile names, for messages.
    pub fn brick_names(&self) -> Vec<&str> {
        self.bricks.iter().map(|b| b.spec.name.as_str()).collect()
    }
}

/// Builds `graph`, reusing the nodes of `keep` whose spec subtree is
/// unchanged.
pub fn build(graph: &Graph, env: &BuildEnv, keep: Option<&Built>) -> Result<Built> {
    let mut nodes = Vec::new();
    let mut bricks = Vec::new();
    let top = build_node(&graph.tree, env, keep, &mut nodes, &mut bricks)?;
    Ok(Built { top, nodes, bricks })
}

fn build_node(
    spec: &XlSpec,
    env: &BuildEnv,
    keep: Option<&Built>,
    nodes: &mut Vec<(XlSpec, Arc<dyn Xlator>)>,
    bricks: &mut Vec<Arc<Brick>>,
) -> Result<Arc<dyn Xlator>> {
    if let Some(old) = keep.and_then(|k| k.nodes.iter().find(|(s, _)| s == spec)) {
        // Unchanged subtree: keep it, and remember its nodes and bricks.
        for s in spec.walk() {
            if let Some(n) = keep.and_then(|k| k.nodes.iter().find(|(o, _)| o == s)) {
                nodes.push(n.clone());
            }
        }
        collect_bricks(spec, keep, bricks);
        return Ok(old.1.clone());
    }
    let mut children = Vec::with_capacity(spec.children.len());
    for c in &spec.children {
        children.push(build_node(c, env, keep, nodes, bricks)?);
    }
    let builder = REGISTRY
        .iter()
        .find(|(t, _)| *t == spec.xl_type)
        .map(|(_, b)| *b)
        .ok_or_else(|| Error::Unsupported {
            name: spec.name.clone(),
            xl_type: spec.xl_type.clone(),
            detail: String::new(),
        })?;
    let before = env.new_bricks.lock().len();
    let xl = builder(spec, children, env)?;
    bricks.extend(env.new_bricks.lock()[before..].iter().cloned());
    nodes.push((spec.clone(), xl.clone()));
    Ok(xl)
}

fn collect_bricks(spec: &XlSpec, keep: Option<&Built>, out: &mut Vec<Arc<Brick>>) {
    let Some(k) = keep else { return };
    for s in spec.walk() {
        if s.xl_type == "protocol/client" {
            if let Some(b) = k.bricks.iter().find(|b| b.spec.name == s.name) {
                out.push(b.clone());
            }
        }
    }
}

fn client(spec: &XlSpec, _: Vec<Arc<dyn Xlator>>, env: &BuildEnv) -> Result<Arc<dyn Xlator>> {
    let brick = Arc::new(Brick::new(
        client_spec(spec)?,
        env.volume,
        env.conn_opts.clone(),
        env.mgmt.cloned(),
        env.process_name,
    ));
    env.new_bricks.lock().push(brick.clone());
    Ok(ClientXl::new(brick))
}

fn distribute(
    spec: &XlSpec,
    children: Vec<Arc<dyn Xlator>>,
    _: &BuildEnv,
) -> Result<Arc<dyn Xlator>> {
    let opts = DhtOptions::parse(spec)?;
    Ok(Distribute::new(spec.name.clone(), children, opts))
}

fn replicate(
    spec: &XlSpec,
    children: Vec<Arc<dyn Xlator>>,
    _: &BuildEnv,
) -> Result<Arc<dyn Xlator>> {
    Ok(Replicate::new(spec, children)?)
}

fn utime(spec: &XlSpec, children: Vec<Arc<dyn Xlator>>, _: &BuildEnv) -> Result<Arc<dyn Xlator>> {
    if children.len() != 1 {
        return Err(Error::Invalid(format!(
            "features/utime '{}' must have one subvolume, has {}",
            spec.name,
            children.len()
        )));
    }
    Ok(UtimeXl::new(spec, children))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Graph;

    fn client(i: usize) -> XlSpec {
        XlSpec {
            name: format!("v-client-{i}"),
            xl_type: "protocol/client".into(),
            options: vec![
                ("remote-host".into(), "127.0.0.2".into()),
                ("remote-subvolume".into(), format!("/b{i}")),
            ],
            children: Vec::new(),
        }
    }

    fn graph(bricks: usize, dht_opts: &[(&str, &str)]) -> Graph {
        let dht = XlSpec {
            name: "v-dht".into(),
            xl_type: "cluster/distribute".into(),
            options: dht_opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            children: (0..bricks).map(client).collect(),
        };
        Graph {
            top: "v".into(),
            tree: XlSpec {
                name: "v-utime".into(),
                xl_type: "features/utime".into(),
                options: Vec::new(),
                children: vec![dht],
            },
            write_behind: None,
        }
    }

    fn ids(b: &Built) -> Vec<(String, u64)> {
        b.nodes
            .iter()
            .map(|(s, x)| (s.name.clone(), x.id()))
            .collect()
    }

    /// A rebuild keeps every unchanged subtree (the same translator, so
    /// the same connections, fds and locks) and builds the rest anew.
    #[test]
    fn a_switch_keeps_unchanged_subtrees() {
        let opts = ConnectionOptions::default();
        let env = BuildEnv {
            volume: "v",
            conn_opts: &opts,
            mgmt: None,
            process_name: "test",
            new_bricks: Default::default(),
        };
        let a = build(&graph(2, &[]), &env, None).unwrap();
        assert_eq!(a.bricks.len(), 2);
        assert_eq!(a.top.xl_type(), "features/utime");
        // Same graph again: everything reused, top included.
        let same = build(&graph(2, &[]), &env, Some(&a)).unwrap();
        assert_eq!(same.top.id(), a.top.id());
        // A distribute option changed: new distribute and utime, same bricks.
        let b = build(&graph(2, &[("min-free-disk", "20%")]), &env, Some(&a)).unwrap();
        assert_ne!(b.top.id(), a.top.id());
        for i in 0..2 {
            assert!(Arc::ptr_eq(&a.bricks[i], &b.bricks[i]));
        }
        let (ia, ib) = (ids(&a), ids(&b));
        for name in ["v-client-0", "v-client-1"] {
            let find = |v: &[(String, u64)]| v.iter().find(|(n, _)| n == name).map(|x| x.1);
            assert_eq!(find(&ia), find(&ib), "{name}");
        }
        // A brick added: the old two kept, one new.
        let c = build(&graph(3, &[]), &env, Some(&b)).unwrap();
        assert_eq!(c.bricks.len(), 3);
        assert!(Arc::ptr_eq(&c.bricks[0], &b.bricks[0]) && Arc::ptr_eq(&c.bricks[1], &b.bricks[1]));
        assert!(!b.bricks.iter().any(|o| Arc::ptr_eq(o, &c.bricks[2])));
    }

    #[test]
    fn unknown_types_are_refused_by_name() {
        let opts = ConnectionOptions::default();
        let env = BuildEnv {
            volume: "v",
            conn_opts: &opts,
            mgmt: None,
            process_name: "test",
            new_bricks: Default::default(),
        };
        let mut g = graph(1, &[]);
        g.tree.xl_type = "features/shard".into();
        let e = build(&g, &env, None).err().unwrap();
        assert!(e.to_string().contains("features/shard"), "{e}");
    }
}
