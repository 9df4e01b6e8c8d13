//! The rigs that `benches/throughput.rs` (criterion) and `benches/ratio.rs`
//! (alternating rounds) both time: zmq-tokio and the synchronous `zmq` crate
//! (rust-zmq, the same vendored libzmq) moving batches of messages.
//!
//! A rig is two sides, each owning one socket, set up once and kept for every
//! batch: [`Rig::run`] tells each side to move `n` messages and returns the
//! time from that command until the measuring side (the receiver, or the
//! REQ side for round trips) has finished.
//!
//! - `sync` ([`SyncRig`]): each socket on an OS thread of its own. The
//!   receiving side reuses one `zmq::Message` (the fastest use of that
//!   crate).
//! - `async` ([`AsyncRig`]): each socket in a task of its own on a
//!   multi-thread Tokio runtime with two workers; the receiver gets a fresh
//!   `Multipart` per message.
//!
//! Each rig has its own libzmq context with one I/O thread. The thread that
//! calls `run` only starts a batch and waits for its end.
//!
//! Dropping a rig ends its sides and frees its sockets: the sync rig joins
//! its threads, the async rig terminates its proxy (if any) and shuts its
//! runtime down. The one exception is `zmq_proxy` in [`SyncRig::proxy`]: it
//! returns only when its context is terminated, which its own sockets
//! prevent, so its thread stays idle in `zmq_poll` until the process ends.

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zmq_tokio::{Context, Message, Multipart, Socket, SocketType};

/// Whether `ZMQ_TOKIO_BENCH_QUICK=1` asks for a smoke run.
pub(crate) fn quick() -> bool {
    std::env::var("ZMQ_TOKIO_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// `zmq_tokio::DEFAULT_BURST`, as `Proxy::burst` takes it.
pub(crate) fn default_burst() -> NonZeroUsize {
    NonZeroUsize::new(zmq_tokio::DEFAULT_BURST).expect("DEFAULT_BURST is not zero")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Inproc,
}

impl Transport {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Inproc => "inproc",
        }
    }

    /// The endpoint to bind: a free loopback port, or a unique inproc name.
    fn bind_endpoint(self, tag: &str) -> String {
        match self {
            Transport::Tcp => "tcp://127.0.0.1:*".to_owned(),
            Transport::Inproc => format!("inproc://bench-{tag}"),
        }
    }
}

/// What a payload is sent from.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// Copied into each message from a slice (both crates).
    Slice(Vec<u8>),
    /// zmq-tokio: `Message::from(Bytes)`, not copied above
    /// `Message::COPY_THRESHOLD`; the `zmq` crate copies `&bytes[..]`.
    Bytes(Bytes),
}

impl Payload {
    fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Slice(v) => v,
            Payload::Bytes(b) => b,
        }
    }
}

/// What one side does with its socket for a batch of `n`.
#[derive(Debug, Clone)]
enum Role {
    Push(Payload),
    Pull,
    /// Receives into one reused message: zmq-tokio's `recv_into`, like the
    /// sync side's `recv(&mut msg)` (which `Pull` uses on that side too).
    PullInto,
    Req(Vec<u8>),
    Rep,
}

impl Role {
    /// Whether this side reports the end of a batch: the receiver of a
    /// stream, the asking side of round trips. (A sender finishes as soon
    /// as libzmq has queued its last message, up to a high-water mark's
    /// worth before the receiver has it.)
    fn measures(&self) -> bool {
        matches!(self, Role::Pull | Role::PullInto | Role::Req(_))
    }
}

/// Which crate a rig uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// zmq-tokio.
    Async,
    /// The `zmq` crate.
    Sync,
}

impl Side {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Side::Async => "async",
            Side::Sync => "sync",
        }
    }
}

/// Two sides on threads or tasks, started by a batch size on their command
/// channels; the receiving (or REQ) side reports the end of each batch.
pub(crate) trait Rig {
    /// Runs one batch of `n` and returns how long it took.
    fn run(&self, n: u64) -> Duration;
}

/// How many of `sides` report the end of batches: one in every rig.
fn measuring_sides<S>(sides: &[(S, Role)]) -> usize {
    sides.iter().filter(|(_, role)| role.measures()).count()
}

/// Times one batch: `start` tells every side to move `n` messages, and
/// the batch ends when the measuring side reports on `done`.
fn time_batch(n: u64, start: impl FnOnce(u64), done: &mpsc::Receiver<()>) -> Duration {
    let begin = Instant::now();
    start(n);
    done.recv().expect("side gone");
    begin.elapsed()
}

/// PUSH -> PULL of `payload`: the PULL side binds and measures (a batch
/// ends when it has received all `n`).
pub(crate) fn push_pull_rig(
    side: Side,
    transport: Transport,
    tag: &str,
    payload: Payload,
) -> Box<dyn Rig> {
    push_pull_rig_with(side, transport, tag, payload, Role::Pull)
}

/// [`push_pull_rig`] whose zmq-tokio receiver uses `recv_into` on one
/// reused `Multipart` (the sync receiver always reuses its message).
// Only `benches/ratio.rs` measures it; `throughput.rs` compiles this module
// too.
#[allow(dead_code)]
pub(crate) fn push_pull_into_rig(
    transport: Transport,
    tag: &str,
    payload: Payload,
) -> Box<dyn Rig> {
    push_pull_rig_with(Side::Async, transport, tag, payload, Role::PullInto)
}

fn push_pull_rig_with(
    side: Side,
    transport: Transport,
    tag: &str,
    payload: Payload,
    receiver: Role,
) -> Box<dyn Rig> {
    let roles = [receiver, Role::Push(payload)];
    match side {
        Side::Async => Box::new(AsyncRig::new(
            transport,
            tag,
            [SocketType::Pull, SocketType::Push],
            roles,
        )),
        Side::Sync => Box::new(SyncRig::new(transport, tag, [zmq::PULL, zmq::PUSH], roles)),
    }
}

/// REQ/REP round trips of `size` bytes over loopback tcp: the REP side binds
/// and echoes, the REQ side measures. A batch of `n` is `n` round trips.
pub(crate) fn req_rep_rig(side: Side, size: usize) -> Box<dyn Rig> {
    let roles = [Role::Rep, Role::Req(vec![0x5a; size])];
    match side {
        Side::Async => Box::new(AsyncRig::new(
            Transport::Tcp,
            "rr",
            [SocketType::Rep, SocketType::Req],
            roles,
        )),
        Side::Sync => Box::new(SyncRig::new(
            Transport::Tcp,
            "rr",
            [zmq::REP, zmq::REQ],
            roles,
        )),
    }
}

// ---------------------------------------------------------------- sync ---

pub(crate) struct SyncRig {
    go: Vec<mpsc::Sender<u64>>,
    done: mpsc::Receiver<()>,
    threads: Vec<JoinHandle<()>>,
    _ctx: zmq::Context,
}

fn sync_side(
    socket: zmq::Socket,
    role: Role,
    go: mpsc::Receiver<u64>,
    done: Option<mpsc::Sender<()>>,
) {
    let mut msg = zmq::Message::new();
    for n in go {
        match &role {
            Role::Push(payload) => {
                let data = payload.as_slice();
                for _ in 0..n {
                    socket.send(data, 0).expect("sync send");
                }
            }
            Role::Pull | Role::PullInto => {
                for _ in 0..n {
                    socket.recv(&mut msg, 0).expect("sync recv");
                    black_box(&msg);
                }
            }
            Role::Req(payload) => {
                for _ in 0..n {
                    socket.send(&payload[..], 0).expect("sync send");
                    socket.recv(&mut msg, 0).expect("sync recv");
                    black_box(&msg);
                }
            }
            Role::Rep => {
                for _ in 0..n {
                    let request = socket.recv_msg(0).expect("sync recv");
                    socket.send(request, 0).expect("sync send");
                }
            }
        }
        if let Some(done) = &done {
            done.send(()).expect("bench thread gone");
        }
    }
}

impl SyncRig {
    /// `kinds[0]` binds, `kinds[1]` connects.
    fn new(
        transport: Transport,
        tag: &str,
        kinds: [zmq::SocketType; 2],
        roles: [Role; 2],
    ) -> SyncRig {
        let ctx = zmq::Context::new();
        let binder = ctx.socket(kinds[0]).unwrap();
        let connecter = ctx.socket(kinds[1]).unwrap();
        let endpoint = sync_bind(&binder, transport, &format!("sync-{tag}"));
        connecter.connect(&endpoint).unwrap();
        let [first, second] = roles;
        SyncRig::spawn(ctx, [(binder, first), (connecter, second)])
    }

    /// PUSH -> PULL frontend, `zmq_proxy` in a thread, PUSH backend -> PULL.
    /// The proxy thread is left running when the rig is dropped (`zmq_proxy`
    /// returns only when its context is terminated, and the context outlives
    /// the thread's sockets): it sleeps in `zmq_poll` until the process ends.
    pub(crate) fn proxy(transport: Transport, payload: Payload) -> SyncRig {
        let ctx = zmq::Context::new();
        let frontend = ctx.socket(zmq::PULL).unwrap();
        let backend = ctx.socket(zmq::PUSH).unwrap();
        let front = sync_bind(&frontend, transport, "sync-proxy-front");
        let back = sync_bind(&backend, transport, "sync-proxy-back");
        std::thread::spawn(move || {
            let _ = zmq::proxy(&frontend, &backend);
        });
        let producer = ctx.socket(zmq::PUSH).unwrap();
        producer.connect(&front).unwrap();
        let consumer = ctx.socket(zmq::PULL).unwrap();
        consumer.connect(&back).unwrap();
        SyncRig::spawn(
            ctx,
            [(producer, Role::Push(payload)), (consumer, Role::Pull)],
        )
    }

    /// One thread per side; the side that [measures](Role::measures)
    /// reports the end of batches.
    fn spawn(ctx: zmq::Context, sides: [(zmq::Socket, Role); 2]) -> SyncRig {
        assert_eq!(measuring_sides(&sides), 1);
        let (done_tx, done) = mpsc::channel();
        let mut go = Vec::new();
        let mut threads = Vec::new();
        for (socket, role) in sides {
            let (tx, rx) = mpsc::channel();
            go.push(tx);
            let done = role.measures().then(|| done_tx.clone());
            threads.push(std::thread::spawn(move || {
                sync_side(socket, role, rx, done)
            }));
        }
        let rig = SyncRig {
            go,
            done,
            threads,
            _ctx: ctx,
        };
        rig.run(1); // the connection is up
        rig
    }
}

/// Binds `socket` and returns the endpoint bound.
fn sync_bind(socket: &zmq::Socket, transport: Transport, tag: &str) -> String {
    socket.bind(&transport.bind_endpoint(tag)).unwrap();
    socket.get_last_endpoint().unwrap().unwrap()
}

impl Rig for SyncRig {
    fn run(&self, n: u64) -> Duration {
        let start = |n| self.go.iter().for_each(|go| go.send(n).expect("side gone"));
        time_batch(n, start, &self.done)
    }
}

impl Drop for SyncRig {
    fn drop(&mut self) {
        self.go.clear(); // the sides' loops end, and drop their sockets
        for thread in self.threads.drain(..) {
            thread.join().expect("a side panicked");
        }
    }
}

// --------------------------------------------------------------- async ---

pub(crate) struct AsyncRig {
    go: Vec<tokio::sync::mpsc::UnboundedSender<u64>>,
    done: mpsc::Receiver<()>,
    /// The proxy's control and thread, for the proxy rig.
    proxy: Option<(zmq_tokio::ProxyControl, JoinHandle<()>)>,
    rt: Option<tokio::runtime::Runtime>,
}

async fn async_side(
    socket: Socket,
    role: Role,
    mut go: tokio::sync::mpsc::UnboundedReceiver<u64>,
    done: Option<mpsc::Sender<()>>,
) {
    while let Some(n) = go.recv().await {
        match &role {
            Role::Push(Payload::Slice(data)) => {
                for _ in 0..n {
                    socket.send(&data[..]).await.expect("async send");
                }
            }
            Role::Push(Payload::Bytes(data)) => {
                for _ in 0..n {
                    socket
                        .send(Message::from(data.clone()))
                        .await
                        .expect("async send");
                }
            }
            Role::Pull => {
                for _ in 0..n {
                    black_box(socket.recv().await.expect("async recv"));
                }
            }
            Role::PullInto => {
                let mut msg = Multipart::new();
                for _ in 0..n {
                    socket.recv_into(&mut msg).await.expect("async recv_into");
                    black_box(&msg);
                }
            }
            Role::Req(payload) => {
                for _ in 0..n {
                    socket.send(&payload[..]).await.expect("async send");
                    black_box(socket.recv().await.expect("async recv"));
                }
            }
            Role::Rep => {
                for _ in 0..n {
                    let request = socket.recv().await.expect("async recv");
                    socket.send(request).await.expect("async send");
                }
            }
        }
        if let Some(done) = &done {
            done.send(()).expect("bench thread gone");
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

impl AsyncRig {
    /// `kinds[0]` binds, `kinds[1]` connects.
    fn new(transport: Transport, tag: &str, kinds: [SocketType; 2], roles: [Role; 2]) -> AsyncRig {
        let rt = runtime();
        let guard = rt.enter();
        let ctx = Context::new();
        let binder = ctx.socket(kinds[0]).unwrap();
        let connecter = ctx.socket(kinds[1]).unwrap();
        let endpoint = binder
            .bind(&transport.bind_endpoint(&format!("async-{tag}")))
            .unwrap();
        connecter.connect(&endpoint).unwrap();
        drop(guard);
        let [first, second] = roles;
        AsyncRig::spawn(rt, [(binder, first), (connecter, second)], None)
    }

    /// PUSH -> PULL frontend, `zmq_tokio::proxy` with the given `burst` in a
    /// task, PUSH backend -> PULL: three tasks on the two workers.
    pub(crate) fn proxy(transport: Transport, payload: Payload, burst: NonZeroUsize) -> AsyncRig {
        let rt = runtime();
        let guard = rt.enter();
        let ctx = Context::new();
        let frontend = ctx.socket(SocketType::Pull).unwrap();
        let backend = ctx.socket(SocketType::Push).unwrap();
        let front = frontend
            .bind(&transport.bind_endpoint("async-proxy-front"))
            .unwrap();
        let back = backend
            .bind(&transport.bind_endpoint("async-proxy-back"))
            .unwrap();
        let proxy = zmq_tokio::proxy(frontend, backend).burst(burst);
        let control = proxy.control();
        // The async proxy runs as a task of the runtime, as servers run it;
        // a plain thread only waits for it to end (for the rig's Drop).
        // (Running it with `block_on` on that thread instead made every
        // reactor event cross from a worker to that thread: 0.5-0.7x.)
        let handle = rt.handle().clone();
        let thread = std::thread::spawn(move || {
            let task = handle.spawn(proxy.run());
            let _ = handle.block_on(task);
        });
        let producer = ctx.socket(SocketType::Push).unwrap();
        producer.connect(&front).unwrap();
        let consumer = ctx.socket(SocketType::Pull).unwrap();
        consumer.connect(&back).unwrap();
        drop(guard);
        AsyncRig::spawn(
            rt,
            [(producer, Role::Push(payload)), (consumer, Role::Pull)],
            Some((control, thread)),
        )
    }

    /// One task per side; the side that [measures](Role::measures) reports
    /// the end of batches.
    fn spawn(
        rt: tokio::runtime::Runtime,
        sides: [(Socket, Role); 2],
        proxy: Option<(zmq_tokio::ProxyControl, JoinHandle<()>)>,
    ) -> AsyncRig {
        assert_eq!(measuring_sides(&sides), 1);
        let (done_tx, done) = mpsc::channel();
        let mut go = Vec::new();
        for (socket, role) in sides {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            go.push(tx);
            let done = role.measures().then(|| done_tx.clone());
            rt.spawn(async_side(socket, role, rx, done));
        }
        let rig = AsyncRig {
            go,
            done,
            proxy,
            rt: Some(rt),
        };
        rig.run(1); // the connection is up
        rig
    }
}

impl Rig for AsyncRig {
    fn run(&self, n: u64) -> Duration {
        let start = |n| self.go.iter().for_each(|go| go.send(n).expect("side gone"));
        time_batch(n, start, &self.done)
    }
}

impl Drop for AsyncRig {
    fn drop(&mut self) {
        self.go.clear();
        if let Some((control, thread)) = self.proxy.take() {
            control.terminate();
            thread.join().expect("the proxy thread panicked");
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}
