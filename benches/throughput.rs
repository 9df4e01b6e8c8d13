//! zmq-tokio against the synchronous `zmq` crate (rust-zmq, the same
//! vendored libzmq), side by side in one run: the figures of SPEC §3.
//!
//! # Groups
//!
//! Every group has two functions, `async` (zmq-tokio) and `sync` (the `zmq`
//! crate), run back to back for each parameter so that both see the same
//! machine load.
//!
//! - `push_pull_tcp/{async,sync}/{16,1024,65536}`: PUSH/PULL throughput over
//!   loopback tcp at 16 B, 1 KiB and 64 KiB. One iteration moves N messages
//!   (the group's `Throughput::Elements(N)`, so criterion prints msgs/s):
//!   the time runs from telling both sides to go until the receiver has all
//!   N. Both sides copy the payload from a `&[u8]` into each message.
//! - `push_pull_inproc/...`: the same over `inproc://`.
//! - `push_pull_64k_from_bytes/{async,sync}/{tcp,inproc}`: 64 KiB frames from
//!   a `Bytes`: zmq-tokio hands the buffer to libzmq without copying
//!   (`Message::from(Bytes)`), the `zmq` crate copies `&bytes[..]` into each
//!   message, as it must.
//! - `req_rep_tcp/{async,sync}/16`: REQ/REP round trips of 16 B over loopback
//!   tcp. Here one criterion iteration is one round trip, so the reported time
//!   is the mean round trip.
//! - `proxy/{async,sync}/{tcp,inproc}_16`: PUSH -> (PULL | proxy | PUSH) -> PULL
//!   at 16 B, batches of N as above: `zmq_tokio::proxy` against libzmq's
//!   `zmq_proxy` on a third thread (the async proxy is a task of the
//!   2-worker runtime, beside the two peers). `zmq_proxy` stops only with its
//!   context, so its thread is left idle in `zmq_poll` until the process
//!   ends.
//!
//! Sides: `sync` runs each socket on an OS thread of its own; `async` runs
//! each socket in a task of its own on a multi-thread Tokio runtime with two
//! workers. Each side has its own libzmq context with one I/O thread. The
//! receiving sync side reuses one `zmq::Message` (the fastest use of that
//! crate); the async side gets a fresh `Multipart` per message. Sockets are
//! set up once per benchmark (on first use) and kept for all its
//! iterations; the bench thread only starts a batch and waits for its end.
//!
//! # Running
//!
//! ```text
//! cargo bench --bench throughput                    # full run, a few minutes
//! ZMQ_TOKIO_BENCH_QUICK=1 cargo bench --bench throughput   # smoke run, < 60 s
//! cargo bench --bench throughput -- push_pull_tcp   # one group (a filter)
//! python3 benches/compare.py                        # the table of ratios
//! ```
//!
//! `ZMQ_TOKIO_BENCH_QUICK=1` uses small batches (N) and short warm-up and
//! measurement times, for CI: it checks that everything runs, its numbers
//! are rough. Criterion's own `--quick`, `--warm-up-time S`,
//! `--measurement-time S` and `--sample-size N` flags (after `--`) override
//! the defaults here too (10-15 samples, 1 s warm-up, 3 s measurement: sized
//! for a 2-core machine). A quick and a full run move different N per
//! iteration, so criterion's "change since the last run" lines are
//! meaningless right after switching between the two.
//!
//! # Reading the results
//!
//! Compare `async` and `sync` of the same parameter as a ratio. Criterion
//! reports time per iteration, so for throughput the figure of merit is
//! `sync_time / async_time` (= async msgs/s ÷ sync msgs/s; above 1 means
//! zmq-tokio moves more messages per second), and for latency it is
//! `async_time / sync_time` (below 1 means faster round trips).
//! `benches/compare.py` reads criterion's `estimates.json` files and prints
//! both ratios next to SPEC §3's goals. On a 2-core machine the four busy
//! threads (two sides, one libzmq I/O thread, the bench thread waking
//! them) compete for cores: expect noise of several percent, and judge
//! ratios, not absolute numbers. Round-trip times on a virtual machine
//! depend mostly on how fast idle vCPUs wake up, and can change severalfold
//! with the machine's load; the ratio moves much less.

use std::cell::OnceCell;
use std::hint::black_box;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use zmq_tokio::{Context, Message, Socket, SocketType};

const SIZES: [usize; 3] = [16, 1024, 64 * 1024];
const KIB64: usize = 64 * 1024;

/// Whether `ZMQ_TOKIO_BENCH_QUICK=1` asks for a smoke run.
fn quick() -> bool {
    std::env::var("ZMQ_TOKIO_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Messages per iteration: enough for one iteration to take ~10-100 ms in a
/// full run.
fn batch(size: usize) -> u64 {
    let (small, medium, large) = if quick() {
        (5_000, 2_000, 200)
    } else {
        (100_000, 40_000, 4_000)
    };
    match size {
        0..=256 => small,
        257..=4096 => medium,
        _ => large,
    }
}

fn config() -> Criterion {
    if quick() {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500))
    } else {
        Criterion::default()
            .sample_size(15)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Inproc,
}

impl Transport {
    fn name(self) -> &'static str {
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
enum Payload {
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
    Req(Vec<u8>),
    Rep,
}

/// Two sides on threads or tasks, started by a batch size on their command
/// channels; the second side reports the end of each batch.
trait Rig {
    /// Runs one batch of `n` and returns how long it took.
    fn run(&self, n: u64) -> Duration;
}

// ---------------------------------------------------------------- sync ---

struct SyncRig {
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
            Role::Pull => {
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
    /// `kinds[0]` binds, `kinds[1]` connects and reports the end of batches.
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
    fn proxy(transport: Transport, payload: Payload) -> SyncRig {
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

    /// One thread per side; the last side reports the end of batches.
    fn spawn(ctx: zmq::Context, sides: [(zmq::Socket, Role); 2]) -> SyncRig {
        let (done_tx, done) = mpsc::channel();
        let mut go = Vec::new();
        let mut threads = Vec::new();
        let last = sides.len() - 1;
        for (i, (socket, role)) in sides.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel();
            go.push(tx);
            let done = (i == last).then(|| done_tx.clone());
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

/// Times one batch: `start` tells every side to move `n` messages, and
/// the batch ends when the measuring side reports on `done`.
fn time_batch(n: u64, start: impl FnOnce(u64), done: &mpsc::Receiver<()>) -> Duration {
    let begin = Instant::now();
    start(n);
    done.recv().expect("side gone");
    begin.elapsed()
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

struct AsyncRig {
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
    /// `kinds[0]` binds, `kinds[1]` connects and reports the end of batches.
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

    /// PUSH -> PULL frontend, `zmq_tokio::proxy` in a task, PUSH backend ->
    /// PULL: three tasks on the two workers.
    fn proxy(transport: Transport, payload: Payload) -> AsyncRig {
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
        let proxy = zmq_tokio::proxy(frontend, backend);
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

    /// One task per side; the last side reports the end of batches.
    fn spawn(
        rt: tokio::runtime::Runtime,
        sides: [(Socket, Role); 2],
        proxy: Option<(zmq_tokio::ProxyControl, JoinHandle<()>)>,
    ) -> AsyncRig {
        let (done_tx, done) = mpsc::channel();
        let mut go = Vec::new();
        let last = sides.len() - 1;
        for (i, (socket, role)) in sides.into_iter().enumerate() {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            go.push(tx);
            let done = (i == last).then(|| done_tx.clone());
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

// ------------------------------------------------------------- benches ---

#[derive(Debug, Clone, Copy)]
enum Side {
    Async,
    Sync,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Async => "async",
            Side::Sync => "sync",
        }
    }
}

fn push_pull_rig(side: Side, transport: Transport, tag: &str, payload: Payload) -> Box<dyn Rig> {
    let roles = [Role::Pull, Role::Push(payload)];
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

/// One benchmark: the rig is made on first use (so that filtered-out
/// benchmarks cost nothing) and kept for every iteration.
fn bench_batches(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    n: u64,
    make: impl FnOnce() -> Box<dyn Rig>,
) {
    let rig = OnceCell::new();
    let mut make = Some(make);
    group.bench_function(id, |b| {
        let rig = rig.get_or_init(|| (make.take().expect("made once"))());
        b.iter_custom(|iters| (0..iters).map(|_| rig.run(n)).sum());
    });
}

fn push_pull(c: &mut Criterion, transport: Transport) {
    let mut group = c.benchmark_group(format!("push_pull_{}", transport.name()));
    group.sampling_mode(SamplingMode::Flat);
    for size in SIZES {
        let n = batch(size);
        group.throughput(Throughput::Elements(n));
        for side in [Side::Async, Side::Sync] {
            let tag = format!("pp-{size}");
            let payload = Payload::Slice(vec![0x5a; size]);
            bench_batches(&mut group, BenchmarkId::new(side.name(), size), n, || {
                push_pull_rig(side, transport, &tag, payload)
            });
        }
    }
    group.finish();
}

fn push_pull_tcp(c: &mut Criterion) {
    push_pull(c, Transport::Tcp);
}

fn push_pull_inproc(c: &mut Criterion) {
    push_pull(c, Transport::Inproc);
}

fn push_pull_64k_from_bytes(c: &mut Criterion) {
    let mut group = c.benchmark_group("push_pull_64k_from_bytes");
    group.sampling_mode(SamplingMode::Flat);
    let n = batch(KIB64);
    group.throughput(Throughput::Elements(n));
    let payload = Bytes::from(vec![0x5a; KIB64]);
    for transport in [Transport::Tcp, Transport::Inproc] {
        for side in [Side::Async, Side::Sync] {
            let payload = Payload::Bytes(payload.clone());
            bench_batches(
                &mut group,
                BenchmarkId::new(side.name(), transport.name()),
                n,
                || push_pull_rig(side, transport, "bytes", payload),
            );
        }
    }
    group.finish();
}

fn req_rep_tcp(c: &mut Criterion) {
    let mut group = c.benchmark_group("req_rep_tcp");
    // One iteration is one round trip: the reported time is the mean.
    group.throughput(Throughput::Elements(1));
    let size = 16;
    for side in [Side::Async, Side::Sync] {
        let rig = OnceCell::<Box<dyn Rig>>::new();
        group.bench_function(BenchmarkId::new(side.name(), size), |b| {
            let rig = rig.get_or_init(|| {
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
            });
            b.iter_custom(|iters| rig.run(iters));
        });
    }
    group.finish();
}

fn proxy(c: &mut Criterion) {
    let mut group = c.benchmark_group("proxy");
    group.sampling_mode(SamplingMode::Flat);
    let size = 16;
    let n = batch(size);
    group.throughput(Throughput::Elements(n));
    for transport in [Transport::Tcp, Transport::Inproc] {
        for side in [Side::Async, Side::Sync] {
            let payload = Payload::Slice(vec![0x5a; size]);
            let id = BenchmarkId::new(side.name(), format!("{}_{size}", transport.name()));
            bench_batches(&mut group, id, n, || match side {
                Side::Async => Box::new(AsyncRig::proxy(transport, payload)),
                Side::Sync => Box::new(SyncRig::proxy(transport, payload)),
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = push_pull_tcp, push_pull_inproc, push_pull_64k_from_bytes, req_rep_tcp, proxy
}
criterion_main!(benches);
