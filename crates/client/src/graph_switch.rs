//! Volume changes (§9 of distribute.md, PROTOCOL.md 9.1): glusterd sends
//! FETCHSPEC on our management connection whenever the volume's volfile
//! may have changed (add-brick, remove-brick, `volume set`). We fetch it
//! again and, if the graph differs, switch to a new one. Bricks whose
//! section did not change keep their connection, so open fds and locks
//! on them carry on untouched; new bricks are connected before the
//! switch. Fds on bricks that left the graph keep that brick alive until
//! they are closed (files are moved off such bricks by the rebalance and
//! followed by the fd, see fd.rs).
//!
//! If glusterd goes away we reconnect to it and fetch again, since
//! announcements made meanwhile were lost.

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::mgmt::Mgmt;
use crate::volfile::Volfile;
use crate::volume::{build, Active, Inner, Volume};
use proto::rpc_msg::{procs, prog};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

const RECONNECT_DELAY: Duration = Duration::from_secs(2);

impl Volume {
    /// Starts the task that follows volfile announcements. It holds the
    /// volume only weakly and ends with it.
    pub(crate) fn watch_volfile(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        rt.spawn(watch(weak));
    }

    /// Fetches the volfile and switches graphs if it changed. Returns
    /// whether it switched.
    pub async fn refresh_graph(&self) -> Result<bool> {
        let _one_at_a_time = self.inner.refreshing.lock().await;
        self.refresh_graph_locked().await
    }

    /// As [`Volume::refresh_graph`], with `refreshing` already held.
    pub(crate) async fn refresh_graph_locked(&self) -> Result<bool> {
        let mgmt = self.inner.mgmt.lock().clone();
        let text = mgmt.getspec(&self.inner.name).await?;
        let volfile = Volfile::parse(&text).map_err(|e| Error::Volfile {
            server: mgmt.host.clone(),
            msg: e.to_string(),
        })?;
        let graph = Graph::build(&volfile)?;
        let old = self.inner.current.read().clone();
        if *old.graph == graph {
            return Ok(false);
        }
        let built = build(
            &graph,
            &self.inner.name,
            &self.inner.conn_opts,
            &mgmt,
            &self.inner.options,
            Some(&old.built),
        )?;
        // Connect the new bricks first so that the new graph is usable
        // the moment it is installed; a brick that is down is retried on
        // use, as always.
        if let Err(e) = built.connect_new(Some(&old.built)).await {
            tracing::warn!("new graph: {e}");
        }
        let names = built.brick_names();
        tracing::info!(
            "switched to a new graph of volume {}: {} brick(s) {:?}",
            self.inner.name,
            names.len(),
            names
        );
        *self.inner.current.write() = Arc::new(Active {
            graph: Arc::new(graph),
            built,
        });
        Ok(true)
    }
}

async fn watch(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let rx = inner.mgmt.lock().conn.take_callbacks();
        drop(inner);
        if let Some(mut rx) = rx {
            while let Some(cb) = rx.recv().await {
                if cb.program != prog::CALLBACK || cb.procedure != procs::CBK_FETCHSPEC {
                    continue;
                }
                let Some(inner) = weak.upgrade() else { return };
                let vol = Volume { inner };
                tracing::debug!("glusterd announced a volfile change");
                if let Err(e) = vol.refresh_graph().await {
                    tracing::warn!("volfile changed but could not be used: {e}");
                }
                // Let the translators learn the volume again (a rebalance
                // may have started).
                vol.top().refresh(&crate::xlator::Ctx::current()).await;
            }
        }
        // The glusterd connection is gone: reconnect and catch up.
        loop {
            tokio::time::sleep(RECONNECT_DELAY).await;
            let Some(inner) = weak.upgrade() else { return };
            if inner.closed.load(Ordering::Acquire) {
                return;
            }
            let host = inner.server.clone();
            let port = inner.options.port;
            let opts = inner.conn_opts.clone();
            drop(inner);
            match Mgmt::connect(&host, port, opts).await {
                Ok(m) => {
                    let Some(inner) = weak.upgrade() else { return };
                    if inner.closed.load(Ordering::Acquire) {
                        m.conn.close();
                        return;
                    }
                    *inner.mgmt.lock() = m;
                    let vol = Volume { inner };
                    tracing::info!("reconnected to glusterd {host}");
                    if let Err(e) = vol.refresh_graph().await {
                        tracing::warn!("volfile refetch after reconnect: {e}");
                    }
                    break;
                }
                Err(e) => tracing::debug!("glusterd {host}: {e}"),
            }
        }
    }
}
