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
use zmq_tokio::{options, Context, Message, Multipart, Socket, SocketType};

mod bare;

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
    /// Sends multipart messages of these frames, copied from slices (the
    /// sync side with `SNDMORE` per frame, zmq-tokio one `Multipart`).
    PushParts(Vec<Vec<u8>>),
    /// Receives whole multipart messages: the sync side frame by frame into
    /// one reused `zmq::Message` until no more follow, zmq-tokio `recv()`.
    PullParts,
}

impl Role {
    /// Whether this side reports the end of a batch: the receiver of a
    /// stream, the asking side of round trips. (A sender finishes as soon
    /// as libzmq has queued its last message, up to a high-water mark's
    /// worth before the receiver has it.)
    fn measures(&self) -> bool {
        matches!(
            self,
            Role::Pull | Role::PullInto | Role::PullParts | Role::Req(_)
        )
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

/// The longest a batch may take before the bench fails rather than hangs
/// (a batch takes about 100 ms).
pub(crate) const BATCH_LIMIT: Duration = Duration::from_secs(60);

/// How many of `sides` report the end of batches: one in every rig but
/// the fan-out, where each SUB does.
fn measuring_sides<S>(sides: &[(S, Role)]) -> usize {
    sides.iter().filter(|(_, role)| role.measures()).count()
}

/// Times one batch: `start` tells every side to move `n` messages, and
/// the batch ends when all `measuring` sides have reported on `done`.
fn time_batch(
    n: u64,
    start: impl FnOnce(u64),
    done: &mpsc::Receiver<()>,
    measuring: usize,
) -> Duration {
    let begin = Instant::now();
    start(n);
    for _ in 0..measuring {
        done.recv_timeout(BATCH_LIMIT)
            .expect("a side is gone, or the batch took longer than BATCH_LIMIT");
    }
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

/// Where the REQ/REP client and server run on the zmq-tokio side (the sync
/// side always runs each on an OS thread).
// Only `benches/ratio.rs` measures the shapes; `throughput.rs` compiles
// this module too.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The client in `Runtime::block_on` on the calling thread (what
    /// `#[tokio::main]` does), the REP server spawned on the 2-worker runtime.
    Main,
    /// Both spawned as tasks on the 2-worker runtime ([`req_rep_rig`]).
    Spawned,
    /// Both on a current-thread runtime: the client in `block_on`, the REP
    /// server spawned on it.
    CurrentThread,
}

/// [`req_rep_rig`]'s zmq-tokio side in the given [`Shape`].
#[allow(dead_code)]
pub(crate) fn req_rep_shape_rig(shape: Shape, size: usize) -> Box<dyn Rig> {
    match shape {
        Shape::Spawned => req_rep_rig(Side::Async, size),
        Shape::Main => Box::new(BlockOnRig::new(runtime(), size)),
        Shape::CurrentThread => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            Box::new(BlockOnRig::new(rt, size))
        }
    }
}

/// The frames of a broker's message: a 5-byte routing id (what a ROUTER
/// makes up), an empty delimiter and a body of `size` bytes.
#[allow(dead_code)]
pub(crate) fn broker_frames(size: usize) -> Vec<Vec<u8>> {
    vec![vec![0, 0x80, 0, 0, 0x29], Vec::new(), vec![0x5a; size]]
}

/// PUSH -> (PULL | proxy | PUSH) -> PULL of multipart messages of `frames`
/// over `transport`: `zmq_tokio::proxy` in a task against `zmq_proxy` on a
/// thread, like [`AsyncRig::proxy`] and [`SyncRig::proxy`].
#[allow(dead_code)]
pub(crate) fn broker_rig(side: Side, transport: Transport, frames: Vec<Vec<u8>>) -> Box<dyn Rig> {
    let roles = [Role::PushParts(frames), Role::PullParts];
    match side {
        Side::Async => Box::new(AsyncRig::proxy_with(transport, roles, default_burst())),
        Side::Sync => Box::new(SyncRig::proxy_with(transport, roles)),
    }
}

/// One PUB to `subscribers` SUBs over loopback tcp, all subscribed to
/// everything, SNDHWM and RCVHWM 0 (no limit, so nothing is dropped): a
/// batch of `n` is `n` messages of `size` bytes published and received by
/// every SUB. Each SUB reports the end of its batch; before the first,
/// [`sync_welcome`] or [`async_welcome`] makes sure that every SUB is
/// connected and subscribed.
#[allow(dead_code)]
pub(crate) fn pub_sub_rig(side: Side, subscribers: usize, size: usize) -> Box<dyn Rig> {
    let payload = Payload::Slice(vec![0x5a; size]);
    match side {
        Side::Sync => Box::new(SyncRig::pub_sub(subscribers, payload)),
        Side::Async => Box::new(AsyncRig::pub_sub(subscribers, payload, Role::Pull)),
    }
}

/// [`pub_sub_rig`]'s zmq-tokio side with SUBs that receive with
/// `recv_into` on one reused message, like for like with the sync SUBs.
#[allow(dead_code)]
pub(crate) fn pub_sub_into_rig(subscribers: usize, size: usize) -> Box<dyn Rig> {
    let payload = Payload::Slice(vec![0x5a; size]);
    Box::new(AsyncRig::pub_sub(subscribers, payload, Role::PullInto))
}

/// [`pub_sub_rig`] without zmq-tokio: the `zmq` crate's sockets in Tokio
/// tasks, each SUB waiting on its `ZMQ_FD` itself (`bare.rs`), the least
/// a receive in a task can cost. A floor to read the zmq-tokio figures
/// against, not a rival: it is right only while no two tasks share a
/// socket. With `fresh`, each SUB receives into a new message every time,
/// as zmq-tokio's `recv()` hands out a new one.
#[allow(dead_code)]
pub(crate) fn pub_sub_bare_rig(subscribers: usize, size: usize, fresh: bool) -> Box<dyn Rig> {
    let payload = Payload::Slice(vec![0x5a; size]);
    Box::new(bare::pub_sub(subscribers, payload, fresh))
}

/// The welcome the PUB repeats until every SUB has one, and the message
/// that ends the welcomes; both are shorter than any measured payload.
const WELCOME: &[u8] = b"w";
const WELCOMED: &[u8] = b"e";

/// How long the SUBs may take to connect and subscribe.
const WELCOME_LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- sync ---

pub(crate) struct SyncRig {
    go: Vec<mpsc::Sender<u64>>,
    done: mpsc::Receiver<()>,
    /// How many sides report the end of each batch.
    measuring: usize,
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
            Role::PushParts(frames) => {
                let (last, more) = frames.split_last().expect("a message has frames");
                for _ in 0..n {
                    for frame in more {
                        socket.send(&frame[..], zmq::SNDMORE).expect("sync send");
                    }
                    socket.send(&last[..], 0).expect("sync send");
                }
            }
            Role::PullParts => {
                for _ in 0..n {
                    loop {
                        socket.recv(&mut msg, 0).expect("sync recv");
                        black_box(&msg);
                        if !msg.get_more() {
                            break;
                        }
                    }
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
        SyncRig::spawn(ctx, vec![(binder, first), (connecter, second)])
    }

    /// PUSH -> PULL frontend, `zmq_proxy` in a thread, PUSH backend -> PULL.
    /// The proxy thread is left running when the rig is dropped (`zmq_proxy`
    /// returns only when its context is terminated, and the context outlives
    /// the thread's sockets): it sleeps in `zmq_poll` until the process ends.
    pub(crate) fn proxy(transport: Transport, payload: Payload) -> SyncRig {
        SyncRig::proxy_with(transport, [Role::Push(payload), Role::Pull])
    }

    /// [`SyncRig::proxy`] with the producer's and the consumer's roles.
    fn proxy_with(transport: Transport, [producing, consuming]: [Role; 2]) -> SyncRig {
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
        SyncRig::spawn(ctx, vec![(producer, producing), (consumer, consuming)])
    }

    /// [`pub_sub_rig`]'s sync side: one thread per socket.
    fn pub_sub(subscribers: usize, payload: Payload) -> SyncRig {
        let (ctx, publisher, subs) = sync_pub_sub_sockets(subscribers, "sync-pub");
        let mut sides = vec![(publisher, Role::Push(payload))];
        sides.extend(subs.into_iter().map(|sub| (sub, Role::Pull)));
        SyncRig::spawn(ctx, sides)
    }

    /// One thread per side; the sides that [measure](Role::measures)
    /// report the end of batches.
    fn spawn(ctx: zmq::Context, sides: Vec<(zmq::Socket, Role)>) -> SyncRig {
        let measuring = measuring_sides(&sides);
        assert!(measuring >= 1);
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
            measuring,
            threads,
            _ctx: ctx,
        };
        rig.run(1); // the connection is up
        rig
    }
}

/// A new context with a PUB and `subscribers` SUBs of the `zmq` crate
/// over tcp (HWM 0, subscribed to everything), welcomed: every SUB is
/// connected and its queue empty.
fn sync_pub_sub_sockets(
    subscribers: usize,
    tag: &str,
) -> (zmq::Context, zmq::Socket, Vec<zmq::Socket>) {
    let ctx = zmq::Context::new();
    let publisher = ctx.socket(zmq::PUB).unwrap();
    publisher.set_sndhwm(0).unwrap();
    let endpoint = sync_bind(&publisher, Transport::Tcp, tag);
    let subs: Vec<zmq::Socket> = (0..subscribers)
        .map(|_| {
            let sub = ctx.socket(zmq::SUB).unwrap();
            sub.set_rcvhwm(0).unwrap();
            sub.set_subscribe(b"").unwrap();
            sub.connect(&endpoint).unwrap();
            sub
        })
        .collect();
    sync_welcome(&publisher, &subs);
    (ctx, publisher, subs)
}

/// Publishes [`WELCOME`] until every SUB has received one (so all are
/// connected and subscribed), then [`WELCOMED`], and drains each SUB up
/// to it: the SUBs' queues are empty when the first batch starts.
fn sync_welcome(publisher: &zmq::Socket, subs: &[zmq::Socket]) {
    let deadline = Instant::now() + WELCOME_LIMIT;
    let mut welcomed = vec![false; subs.len()];
    while !welcomed.iter().all(|&w| w) {
        assert!(
            Instant::now() < deadline,
            "the SUBs did not all connect within {WELCOME_LIMIT:?}"
        );
        publisher.send(WELCOME, 0).unwrap();
        std::thread::sleep(Duration::from_millis(1));
        for (sub, welcomed) in subs.iter().zip(&mut welcomed) {
            while let Ok(msg) = sub.recv_bytes(zmq::DONTWAIT) {
                *welcomed |= msg == WELCOME;
            }
        }
    }
    publisher.send(WELCOMED, 0).unwrap();
    for sub in subs {
        loop {
            assert!(
                Instant::now() < deadline,
                "a SUB did not get the end of the welcomes within {WELCOME_LIMIT:?}"
            );
            match sub.recv_bytes(zmq::DONTWAIT) {
                Ok(msg) if msg == WELCOMED => break,
                Ok(_) => {}
                Err(zmq::Error::EAGAIN) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("sync recv: {e}"),
            }
        }
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
        time_batch(n, start, &self.done, self.measuring)
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
    /// How many sides report the end of each batch.
    measuring: usize,
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
            Role::Pull | Role::PullParts => {
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
            Role::PushParts(frames) => {
                for _ in 0..n {
                    let msg: Multipart = frames.iter().map(Vec::as_slice).collect();
                    socket.send(msg).await.expect("async send");
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
        AsyncRig::spawn(rt, vec![(binder, first), (connecter, second)], None)
    }

    /// PUSH -> PULL frontend, `zmq_tokio::proxy` with the given `burst` in a
    /// task, PUSH backend -> PULL: three tasks on the two workers.
    pub(crate) fn proxy(transport: Transport, payload: Payload, burst: NonZeroUsize) -> AsyncRig {
        AsyncRig::proxy_with(transport, [Role::Push(payload), Role::Pull], burst)
    }

    /// [`AsyncRig::proxy`] with the producer's and the consumer's roles.
    fn proxy_with(
        transport: Transport,
        [producing, consuming]: [Role; 2],
        burst: NonZeroUsize,
    ) -> AsyncRig {
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
            vec![(producer, producing), (consumer, consuming)],
            Some((control, thread)),
        )
    }

    /// [`pub_sub_rig`]'s zmq-tokio side: one task per socket.
    fn pub_sub(subscribers: usize, payload: Payload, receiver: Role) -> AsyncRig {
        let rt = runtime();
        let guard = rt.enter();
        let ctx = Context::new();
        let publisher = ctx.socket(SocketType::Pub).unwrap();
        publisher.set(options::SNDHWM, 0).unwrap();
        let endpoint = publisher
            .bind(&Transport::Tcp.bind_endpoint("async-pub"))
            .unwrap();
        let subs: Vec<Socket> = (0..subscribers)
            .map(|_| {
                let sub = ctx.socket(SocketType::Sub).unwrap();
                sub.set(options::RCVHWM, 0).unwrap();
                sub.subscribe(b"").unwrap();
                sub.connect(&endpoint).unwrap();
                sub
            })
            .collect();
        drop(guard);
        rt.block_on(async_welcome(&publisher, &subs));
        let mut sides = vec![(publisher, Role::Push(payload))];
        sides.extend(subs.into_iter().map(|sub| (sub, receiver.clone())));
        AsyncRig::spawn(rt, sides, None)
    }

    /// One task per side; the sides that [measure](Role::measures) report
    /// the end of batches.
    fn spawn(
        rt: tokio::runtime::Runtime,
        sides: Vec<(Socket, Role)>,
        proxy: Option<(zmq_tokio::ProxyControl, JoinHandle<()>)>,
    ) -> AsyncRig {
        let measuring = measuring_sides(&sides);
        assert!(measuring >= 1);
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
            measuring,
            proxy,
            rt: Some(rt),
        };
        rig.run(1); // the connection is up
        rig
    }
}

/// [`sync_welcome`] for zmq-tokio sockets, bounded by [`WELCOME_LIMIT`].
async fn async_welcome(publisher: &Socket, subs: &[Socket]) {
    let welcome = async {
        let mut welcomed = vec![false; subs.len()];
        while !welcomed.iter().all(|&w| w) {
            publisher.send(WELCOME).await.expect("async send");
            tokio::time::sleep(Duration::from_millis(1)).await;
            for (sub, welcomed) in subs.iter().zip(&mut welcomed) {
                while let Some(msg) = sub.try_recv().expect("async try_recv") {
                    *welcomed |= msg[0] == WELCOME;
                }
            }
        }
        publisher.send(WELCOMED).await.expect("async send");
        for sub in subs {
            while sub.recv().await.expect("async recv")[0] != WELCOMED {}
        }
    };
    tokio::time::timeout(WELCOME_LIMIT, welcome)
        .await
        .unwrap_or_else(|_| panic!("the SUBs did not all connect within {WELCOME_LIMIT:?}"));
}

impl Rig for AsyncRig {
    fn run(&self, n: u64) -> Duration {
        let start = |n| self.go.iter().for_each(|go| go.send(n).expect("side gone"));
        time_batch(n, start, &self.done, self.measuring)
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

// ------------------------------------------------------------ block_on ---

/// [`Shape::Main`] and [`Shape::CurrentThread`]: the REQ client runs in
/// `Runtime::block_on` on the thread that calls [`Rig::run`], the REP
/// server is a task of the runtime.
struct BlockOnRig {
    req: Option<Socket>,
    payload: Vec<u8>,
    rt: Option<tokio::runtime::Runtime>,
}

impl BlockOnRig {
    fn new(rt: tokio::runtime::Runtime, size: usize) -> BlockOnRig {
        let guard = rt.enter();
        let ctx = Context::new();
        let rep = ctx.socket(SocketType::Rep).unwrap();
        let req = ctx.socket(SocketType::Req).unwrap();
        let endpoint = rep.bind(&Transport::Tcp.bind_endpoint("")).unwrap();
        req.connect(&endpoint).unwrap();
        drop(guard);
        // Echoes until the runtime shuts down (and drops the task).
        rt.spawn(async move {
            loop {
                let Ok(request) = rep.recv().await else { break };
                if rep.send(request).await.is_err() {
                    break;
                }
            }
        });
        let rig = BlockOnRig {
            req: Some(req),
            payload: vec![0x5a; size],
            rt: Some(rt),
        };
        rig.run(1); // the connection is up
        rig
    }
}

impl Rig for BlockOnRig {
    fn run(&self, n: u64) -> Duration {
        let (req, rt) = (self.req.as_ref().unwrap(), self.rt.as_ref().unwrap());
        let payload = &self.payload[..];
        let begin = Instant::now();
        rt.block_on(async {
            let batch = async {
                for _ in 0..n {
                    req.send(payload).await.expect("async send");
                    black_box(req.recv().await.expect("async recv"));
                }
            };
            tokio::time::timeout(BATCH_LIMIT, batch)
                .await
                .expect("the batch took longer than BATCH_LIMIT");
        });
        begin.elapsed()
    }
}

impl Drop for BlockOnRig {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            let guard = rt.enter();
            drop(self.req.take());
            drop(guard);
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}
