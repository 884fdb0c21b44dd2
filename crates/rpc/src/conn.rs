//! The connection: a reader task, a writer task, a table of outstanding
//! calls, and nothing else.

use crate::{RpcError, MAX_RECORD};
use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use proto::rpc_msg::{
    decode_incoming, encode_call, procs, prog, Auth, Incoming, ReplyStatus, LAST_FRAGMENT,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use xdr::Encoder;

/// Tunables of one connection.
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    /// Bound on TCP connect.
    pub connect_timeout: Duration,
    /// Default deadline of a call (upstream's frame-timeout is 1800 s).
    pub call_timeout: Duration,
    /// GF-DUMP PING interval while calls are outstanding; zero disables.
    /// The connection is declared dead when nothing arrives for this long
    /// while calls wait (PROTOCOL.md 1.3).
    pub ping_timeout: Duration,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(1800),
            ping_timeout: Duration::from_secs(42),
        }
    }
}

/// A reply whose status was SUCCESS: the whole record and where the
/// results start.
#[derive(Debug, Clone)]
pub struct Reply {
    record: Bytes,
    body: usize,
}

impl Reply {
    /// The procedure's results.
    pub fn body(&self) -> &[u8] {
        &self.record[self.body..]
    }

    /// The results as a shareable buffer (zero-copy slices for READ data).
    pub fn body_bytes(&self) -> Bytes {
        self.record.slice(self.body..)
    }
}

/// A call the server made to us (GlusterFS callback program).
#[derive(Debug, Clone)]
pub struct Callback {
    pub program: u32,
    pub procedure: u32,
    pub body: Bytes,
}

type Waiter = oneshot::Sender<Result<Reply, RpcError>>;

/// One outgoing record: the encoded header and arguments, and a payload
/// sent after them without being copied into the same buffer.
struct Frame {
    head: Vec<u8>,
    payload: Bytes,
}

/// Outstanding calls. Shared between the handle and the reader task only.
struct Table {
    peer: String,
    state: Mutex<TableState>,
}

struct TableState {
    pending: HashMap<u32, Waiter>,
    /// Set once the connection is gone: no new call may register.
    dead: bool,
}

impl Table {
    /// Completes every outstanding call with ENOTCONN and refuses new ones.
    fn fail_all(&self) {
        let waiters: Vec<Waiter> = {
            let mut st = self.state.lock();
            st.dead = true;
            st.pending.drain().map(|(_, w)| w).collect()
        };
        for w in waiters {
            let _ = w.send(Err(RpcError::NotConnected {
                peer: self.peer.clone(),
            }));
        }
    }

    fn outstanding(&self) -> usize {
        self.state.lock().pending.len()
    }
}

/// What the handle owns; dropping the last handle closes the connection.
struct Inner {
    peer: String,
    table: Arc<Table>,
    frames: mpsc::UnboundedSender<Frame>,
    next_xid: AtomicU32,
    tasks: Vec<JoinHandle<()>>,
    options: ConnectionOptions,
    alive: watch::Receiver<bool>,
    callbacks: Mutex<Option<mpsc::Receiver<Callback>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.table.fail_all();
    }
}

/// A handle to one RPC connection. Cloning shares the connection.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Connection({})", self.inner.peer)
    }
}

impl Connection {
    /// Connects to `host:port`. Must be called inside a tokio runtime.
    pub async fn connect(
        host: &str,
        port: u16,
        options: ConnectionOptions,
    ) -> Result<Connection, RpcError> {
        let peer = format!("{host}:{port}");
        let stream =
            match tokio::time::timeout(options.connect_timeout, TcpStream::connect((host, port)))
                .await
            {
                Err(_) => {
                    return Err(RpcError::ConnectTimeout {
                        peer,
                        after: options.connect_timeout,
                    })
                }
                Ok(Err(e)) => {
                    return Err(RpcError::Connect {
                        peer,
                        reason: e.to_string(),
                    })
                }
                Ok(Ok(s)) => s,
            };
        let _ = stream.set_nodelay(true);
        Ok(Self::from_stream(stream, peer, options))
    }

    fn from_stream(stream: TcpStream, peer: String, options: ConnectionOptions) -> Connection {
        let (rd, wr) = stream.into_split();
        let table = Arc::new(Table {
            peer: peer.clone(),
            state: Mutex::new(TableState {
                pending: HashMap::new(),
                dead: false,
            }),
        });
        let (frames_tx, frames_rx) = mpsc::unbounded_channel();
        let (cb_tx, cb_rx) = mpsc::channel(64);
        let (alive_tx, alive_rx) = watch::channel(true);
        let writer = tokio::spawn(write_loop(wr, frames_rx, table.clone()));
        let reader = tokio::spawn(read_loop(
            rd,
            table.clone(),
            cb_tx,
            alive_tx,
            frames_tx.clone(),
            options.ping_timeout,
        ));
        Connection {
            inner: Arc::new(Inner {
                peer,
                table,
                frames: frames_tx,
                next_xid: AtomicU32::new(1),
                tasks: vec![reader, writer],
                options,
                alive: alive_rx,
                callbacks: Mutex::new(Some(cb_rx)),
            }),
        }
    }

    pub fn peer(&self) -> &str {
        &self.inner.peer
    }

    /// True until the connection closes or fails.
    pub fn is_alive(&self) -> bool {
        *self.inner.alive.borrow()
    }

    /// Resolves when the connection is gone (peer closed, error, close()).
    pub async fn closed(&self) {
        let mut rx = self.inner.alive.clone();
        while *rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// The server's calls to us; can be taken once.
    pub fn take_callbacks(&self) -> Option<mpsc::Receiver<Callback>> {
        self.inner.callbacks.lock().take()
    }

    /// Number of calls waiting for a reply.
    pub fn outstanding(&self) -> usize {
        self.inner.table.outstanding()
    }

    /// Closes now: aborts the tasks, completes outstanding calls with
    /// ENOTCONN. Other handles see a dead connection.
    pub fn close(&self) {
        for t in &self.inner.tasks {
            t.abort();
        }
        self.inner.table.fail_all();
    }

    /// Makes a call with the default deadline. `args` appends the
    /// procedure's arguments (and any raw payload) to the encoder.
    pub async fn call(
        &self,
        program: u32,
        version: u32,
        procedure: u32,
        auth: &Auth,
        args: impl FnOnce(&mut Encoder),
    ) -> Result<Reply, RpcError> {
        self.call_with_timeout(
            program,
            version,
            procedure,
            auth,
            args,
            self.inner.options.call_timeout,
        )
        .await
    }

    /// As [`Connection::call`], followed by a raw payload (WRITE data),
    /// which goes to the socket as it is, without a copy.
    pub async fn call_with_payload(
        &self,
        program: u32,
        version: u32,
        procedure: u32,
        auth: &Auth,
        args: impl FnOnce(&mut Encoder),
        payload: Bytes,
    ) -> Result<Reply, RpcError> {
        self.call_inner(
            program,
            version,
            procedure,
            auth,
            args,
            self.inner.options.call_timeout,
            payload,
        )
        .await
    }

    pub async fn call_with_timeout(
        &self,
        program: u32,
        version: u32,
        procedure: u32,
        auth: &Auth,
        args: impl FnOnce(&mut Encoder),
        timeout: Duration,
    ) -> Result<Reply, RpcError> {
        self.call_inner(
            program,
            version,
            procedure,
            auth,
            args,
            timeout,
            Bytes::new(),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn call_inner(
        &self,
        program: u32,
        version: u32,
        procedure: u32,
        auth: &Auth,
        args: impl FnOnce(&mut Encoder),
        timeout: Duration,
        payload: Bytes,
    ) -> Result<Reply, RpcError> {
        let inner = &self.inner;
        let (tx, rx) = oneshot::channel();
        let xid = self.register(tx)?;
        // Removes the table entry if this future is dropped or times out,
        // so a late reply is discarded and nothing leaks.
        let guard = PendingGuard {
            table: &inner.table,
            xid,
        };
        let mut e = Encoder::with_capacity(1024);
        e.u32(0); // record mark, patched below
        encode_call(&mut e, xid, program, version, procedure, auth)?;
        args(&mut e);
        let len = e.len() - 4 + payload.len();
        if len > MAX_RECORD {
            return Err(RpcError::Rejected {
                peer: inner.peer.clone(),
                program,
                procedure,
                status: ReplyStatus::Accepted(proto::rpc_msg::AcceptError::GarbageArgs),
            });
        }
        e.patch_u32(0, LAST_FRAGMENT | len as u32);
        let frame = Frame {
            head: e.into_vec(),
            payload,
        };
        if inner.frames.send(frame).is_err() {
            return Err(RpcError::NotConnected {
                peer: inner.peer.clone(),
            });
        }
        let result = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(RpcError::NotConnected {
                peer: inner.peer.clone(),
            }),
            Err(_) => Err(RpcError::Timeout {
                peer: inner.peer.clone(),
                program,
                procedure,
                after: timeout,
            }),
        };
        drop(guard);
        result.map_err(|e| match e {
            // The reader does not know which call a status belongs to.
            RpcError::Rejected { peer, status, .. } => RpcError::Rejected {
                peer,
                program,
                procedure,
                status,
            },
            e => e,
        })
    }

    fn register(&self, tx: Waiter) -> Result<u32, RpcError> {
        let inner = &self.inner;
        let mut st = inner.table.state.lock();
        if st.dead {
            return Err(RpcError::NotConnected {
                peer: inner.peer.clone(),
            });
        }
        // Skip 0 and any xid still in flight after a wrap-around.
        let xid = loop {
            let x = inner.next_xid.fetch_add(1, Ordering::Relaxed);
            if x != 0 && !st.pending.contains_key(&x) {
                break x;
            }
        };
        st.pending.insert(xid, tx);
        Ok(xid)
    }
}

struct PendingGuard<'a> {
    table: &'a Table,
    xid: u32,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.table.state.lock().pending.remove(&self.xid);
    }
}

/// Writes queued records; flushes whenever the queue runs dry so that
/// bursts of small calls share a syscall.
async fn write_loop(
    wr: OwnedWriteHalf,
    mut frames: mpsc::UnboundedReceiver<Frame>,
    table: Arc<Table>,
) {
    let mut w = BufWriter::with_capacity(256 * 1024, wr);
    while let Some(frame) = frames.recv().await {
        let mut ok = write_frame(&mut w, &frame).await;
        while ok {
            match frames.try_recv() {
                Ok(f) => ok = write_frame(&mut w, &f).await,
                Err(_) => break,
            }
        }
        if !ok || w.flush().await.is_err() {
            tracing::debug!(peer = %table.peer, "write failed; connection lost");
            table.fail_all();
            return;
        }
    }
}

/// Small pieces are gathered in the buffer; a large payload goes straight
/// to the socket (BufWriter passes writes larger than its buffer through).
async fn write_frame(w: &mut BufWriter<OwnedWriteHalf>, f: &Frame) -> bool {
    w.write_all(&f.head).await.is_ok()
        && (f.payload.is_empty() || w.write_all(&f.payload).await.is_ok())
}

/// Reads records, completes calls by xid, forwards server calls, and runs
/// the ping rule. Owns the only timer of the connection.
async fn read_loop(
    rd: OwnedReadHalf,
    table: Arc<Table>,
    callbacks: mpsc::Sender<Callback>,
    alive: watch::Sender<bool>,
    frames: mpsc::UnboundedSender<Frame>,
    ping_timeout: Duration,
) {
    let mut r = BufReader::with_capacity(256 * 1024, rd);
    let ping_enabled = !ping_timeout.is_zero();
    let tick = if ping_enabled {
        ping_timeout
    } else {
        Duration::from_secs(3600)
    };
    let mut last_rx = Instant::now();
    let mut ping_sent = false;
    let mut ping_xid = 0x8000_0000u32;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    loop {
        tokio::select! {
            rec = read_record(&mut r) => {
                let rec = match rec {
                    Ok(rec) => rec,
                    Err(e) => {
                        tracing::debug!(peer = %table.peer, "connection closed: {e}");
                        break;
                    }
                };
                last_rx = Instant::now();
                ping_sent = false;
                dispatch(&table, &callbacks, rec);
            }
            _ = ticker.tick(), if ping_enabled => {
                if table.outstanding() == 0 {
                    continue;
                }
                if ping_sent && last_rx.elapsed() >= ping_timeout {
                    tracing::warn!(peer = %table.peer, "no reply for {ping_timeout:?} while calls wait; disconnecting");
                    break;
                }
                // A PING whose reply nobody waits for: any incoming bytes
                // prove the peer alive. Its xids are from the top half so
                // they never collide with calls.
                ping_xid = ping_xid.wrapping_add(1) | 0x8000_0000;
                let mut e = Encoder::with_capacity(64);
                e.u32(0);
                if encode_call(&mut e, ping_xid, prog::DUMP, prog::DUMP_VERS, procs::DUMP_PING, &Auth::Null).is_ok() {
                    let len = e.len() as u32 - 4;
                    e.patch_u32(0, LAST_FRAGMENT | len);
                    let _ = frames.send(Frame { head: e.into_vec(), payload: Bytes::new() });
                    ping_sent = true;
                }
            }
        }
    }
    table.fail_all();
    let _ = alive.send(false);
}

fn dispatch(table: &Table, callbacks: &mpsc::Sender<Callback>, rec: Bytes) {
    match decode_incoming(&rec) {
        Ok(Incoming::Reply { xid, status, body }) => {
            let Some(waiter) = table.state.lock().pending.remove(&xid) else {
                return; // late reply of a cancelled call, or our PING
            };
            let result = if status == ReplyStatus::Success {
                Ok(Reply { record: rec, body })
            } else {
                Err(RpcError::Rejected {
                    peer: table.peer.clone(),
                    program: 0,
                    procedure: 0,
                    status,
                })
            };
            let _ = waiter.send(result);
        }
        Ok(Incoming::Call {
            program,
            procedure,
            body,
            ..
        }) => {
            let cb = Callback {
                program,
                procedure,
                body: rec.slice(body..),
            };
            if callbacks.try_send(cb).is_err() {
                tracing::debug!(peer = %table.peer, program, procedure, "callback dropped: nobody listening");
            }
        }
        Err(e) => {
            tracing::warn!(peer = %table.peer, "undecodable record header: {e}");
        }
    }
}

/// Reads one record (reassembling fragments), bounded by MAX_RECORD.
async fn read_record<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Bytes> {
    let mut out = BytesMut::new();
    loop {
        let mark = r.read_u32().await?;
        let len = (mark & !LAST_FRAGMENT) as usize;
        if out.len() + len > MAX_RECORD {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("record of more than {MAX_RECORD} bytes"),
            ));
        }
        // Read into spare capacity: no zero-filling of large records.
        let end = out.len() + len;
        out.reserve(len);
        while out.len() < end {
            let want = end - out.len();
            if (&mut *r).take(want as u64).read_buf(&mut out).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        if mark & LAST_FRAGMENT != 0 {
            return Ok(out.freeze());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A tiny server: replies to each call with its own xid and the body
    /// `op_ret 0`, except procedure 99 which it never answers.
    async fn server() -> (u16, JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let h = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let (mut rd, mut wr) = s.into_split();
            loop {
                let Ok(rec) = read_record(&mut rd).await else {
                    return;
                };
                let xid = u32::from_be_bytes(rec[..4].try_into().unwrap());
                let procedure = u32::from_be_bytes(rec[20..24].try_into().unwrap());
                if procedure == 99 {
                    continue;
                }
                let mut e = Encoder::new();
                e.u32(LAST_FRAGMENT | 28)
                    .u32(xid)
                    .u32(1)
                    .u32(0)
                    .u32(0)
                    .u32(0)
                    .u32(0)
                    .u32(procedure);
                if wr.write_all(e.as_slice()).await.is_err() {
                    return;
                }
            }
        });
        (port, h)
    }

    #[tokio::test]
    async fn calls_are_matched_by_xid() {
        let (port, _s) = server().await;
        let c = Connection::connect("127.0.0.1", port, Default::default())
            .await
            .unwrap();
        let mut futs = Vec::new();
        for p in 1..50u32 {
            let c = c.clone();
            futs.push(tokio::spawn(async move {
                let r = c.call(1, 1, p, &Auth::Null, |_| {}).await.unwrap();
                assert_eq!(r.body(), &p.to_be_bytes());
            }));
        }
        for f in futs {
            f.await.unwrap();
        }
        assert_eq!(c.outstanding(), 0);
    }

    #[tokio::test]
    async fn close_fails_outstanding_calls_at_once() {
        let (port, _s) = server().await;
        let c = Connection::connect("127.0.0.1", port, Default::default())
            .await
            .unwrap();
        let c2 = c.clone();
        let waiting = tokio::spawn(async move { c2.call(1, 1, 99, &Auth::Null, |_| {}).await });
        while c.outstanding() == 0 {
            tokio::task::yield_now().await;
        }
        let t = Instant::now();
        c.close();
        let r = waiting.await.unwrap();
        assert!(matches!(r, Err(RpcError::NotConnected { .. })));
        assert!(t.elapsed() < Duration::from_millis(100));
        assert!(c.call(1, 1, 1, &Auth::Null, |_| {}).await.is_err());
    }

    #[tokio::test]
    async fn dropping_the_last_handle_ends_the_tasks() {
        let (port, server) = server().await;
        let c = Connection::connect("127.0.0.1", port, Default::default())
            .await
            .unwrap();
        c.call(1, 1, 1, &Auth::Null, |_| {}).await.unwrap();
        drop(c);
        // The server sees EOF because both our halves were dropped.
        tokio::time::timeout(Duration::from_secs(2), server)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn call_deadline_is_the_callers() {
        let (port, _s) = server().await;
        let c = Connection::connect("127.0.0.1", port, Default::default())
            .await
            .unwrap();
        let r = c
            .call_with_timeout(1, 1, 99, &Auth::Null, |_| {}, Duration::from_millis(50))
            .await;
        assert!(matches!(r, Err(RpcError::Timeout { .. })));
        assert_eq!(c.outstanding(), 0);
        // The connection is still usable.
        c.call(1, 1, 2, &Auth::Null, |_| {}).await.unwrap();
    }

    #[tokio::test]
    async fn refused_connect_is_a_clear_error() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let e = Connection::connect("127.0.0.1", port, Default::default())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("cannot connect to 127.0.0.1"), "{e}");
    }

    #[tokio::test]
    async fn oversized_record_from_peer_disconnects() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let _h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let _ = s.write_all(&0xffff_ffffu32.to_be_bytes()).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let c = Connection::connect("127.0.0.1", port, Default::default())
            .await
            .unwrap();
        let r = c.call(1, 1, 1, &Auth::Null, |_| {}).await;
        assert!(matches!(r, Err(RpcError::NotConnected { .. })));
        tokio::time::timeout(Duration::from_secs(1), c.closed())
            .await
            .unwrap();
    }
}
