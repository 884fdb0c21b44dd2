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
use crate::utime::UtimeXl;
use crate::xlator::Xlator;
use parking_lot::Mutex;
use rpc::ConnectionOptions;
use std::sync::Arc;

/// What builders need besides the spec and the built children.
pub struct BuildEnv<'a> {
    pub volume: &'a str,
    pub conn_opts: &'a ConnectionOptions,
    pub mgmt: &'a Mgmt,
    pub process_name: &'a str,
    /// The bricks made by this build (to connect them before use).
    pub new_bricks: Mutex<Vec<Arc<Brick>>>,
}

type Builder = fn(&XlSpec, Vec<Arc<dyn Xlator>>, &BuildEnv) -> Result<Arc<dyn Xlator>>;

/// Every translator glusterfs-rs runs, by volfile type.
const REGISTRY: &[(&str, Builder)] = &[
    ("protocol/client", client),
    ("cluster/distribute", distribute),
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
        Some(env.mgmt.clone()),
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
