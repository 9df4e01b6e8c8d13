//! No lost wakeups (SPEC §2.1) and cooperative draining (§2.5).
//!
//! `ZMQ_FD` is one edge-triggered signal for both directions, re-armed only
//! when someone drains the socket's mailbox. These tests put several tasks
//! on one socket, so that one task's libzmq call routinely consumes the edge
//! another task waits for, and push enough messages through that a lost
//! wakeup turns into a hang, which the timeouts turn into a failure.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use zmq_tokio::{options, Context, Error, Multipart, Socket, SocketType};

#[macro_use]
mod support;
use support::bounded;
use support::{flavour, fresh_endpoint, Transport};

fn numbered(n: u64) -> Multipart {
    Multipart::from(vec![n.to_le_bytes().to_vec(), b"payload".to_vec()])
}

fn number_of(msg: &Multipart) -> u64 {
    assert_eq!(msg.len(), 2, "frames: {msg:?}");
    u64::from_le_bytes(msg[0][..].try_into().expect("8-byte counter"))
}

/// An echo peer on a plain thread, using the synchronous `zmq` crate: a
/// ZeroMQ stack independent of our readiness code.
fn spawn_sync_echo(
    ctx: &zmq::Context,
    kind: zmq::SocketType,
) -> (String, std::thread::JoinHandle<u64>) {
    let socket = ctx.socket(kind).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_rcvtimeo(10_000).unwrap();
    socket.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = socket.get_last_endpoint().unwrap().unwrap();
    let handle = std::thread::spawn(move || {
        let mut echoed = 0;
        // Ends when the test stops sending (receive timeout) or says "stop".
        while let Ok(frames) = socket.recv_multipart(0) {
            if frames.last().map(Vec::as_slice) == Some(b"stop") {
                break;
            }
            socket.send_multipart(frames, 0).unwrap();
            echoed += 1;
        }
        echoed
    });
    (endpoint, handle)
}

/// One `Arc<Socket>` shared by a sending task and a receiving task, against
/// an echo peer: every message must come back, and the two tasks steal each
/// other's edges all the time (the sender fills the HWM, the receiver
/// drains).
async fn duplex_shared_socket(total: u64) {
    let zctx = zmq::Context::new();
    let (endpoint, echo) = spawn_sync_echo(&zctx, zmq::DEALER);
    let socket = Arc::new(Socket::new(SocketType::Dealer).unwrap());
    // Small HWMs so the sender really waits for room while the receiver
    // waits for messages.
    socket.set(options::SNDHWM, 100).unwrap();
    socket.set(options::RCVHWM, 100).unwrap();
    socket.connect(&endpoint).unwrap();

    let sender = {
        let socket = Arc::clone(&socket);
        tokio::spawn(async move {
            for n in 0..total {
                socket.send(numbered(n)).await.unwrap();
            }
        })
    };
    let receiver = {
        let socket = Arc::clone(&socket);
        tokio::spawn(async move {
            for expected in 0..total {
                let msg = socket.recv().await.unwrap();
                assert_eq!(number_of(&msg), expected, "out of order or lost");
            }
        })
    };
    bounded(
        "duplex on one shared socket",
        Duration::from_secs(120),
        async {
            sender.await.unwrap();
            receiver.await.unwrap();
        },
    )
    .await;
    socket.send("stop").await.unwrap();
    assert_eq!(echo.join().unwrap(), total);
}

#[tokio::test(flavor = "current_thread")]
async fn duplex_shared_socket_current_thread() {
    duplex_shared_socket(200_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplex_shared_socket_multi_thread() {
    duplex_shared_socket(200_000).await;
}

/// The same over inproc, with our own echo task: both ends are ours.
async fn duplex_inproc(total: u64) {
    let ctx = Context::new();
    let echo = ctx.socket(SocketType::Router).unwrap();
    // Without ROUTER_MANDATORY a ROUTER drops messages for a peer at its
    // HWM; with it, the echo waits for room like every other sender.
    echo.set(options::ROUTER_MANDATORY, true).unwrap();
    echo.bind("inproc://duplex").unwrap();
    let client = Arc::new(ctx.socket(SocketType::Dealer).unwrap());
    client.set(options::SNDHWM, 50).unwrap();
    client.connect("inproc://duplex").unwrap();

    let echo_task = tokio::spawn(async move {
        for _ in 0..total {
            let msg = echo.recv().await.unwrap();
            echo.send(msg).await.unwrap();
        }
    });
    let sender = {
        let client = Arc::clone(&client);
        tokio::spawn(async move {
            for n in 0..total {
                client.send(numbered(n)).await.unwrap();
            }
        })
    };
    bounded("duplex over inproc", Duration::from_secs(120), async {
        for expected in 0..total {
            assert_eq!(number_of(&client.recv().await.unwrap()), expected);
        }
        sender.await.unwrap();
        echo_task.await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn duplex_inproc_current_thread() {
    duplex_inproc(100_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplex_inproc_multi_thread() {
    duplex_inproc(100_000).await;
}

/// Many receivers on one socket (fan-in hang: a receive that drains the
/// mailbox must wake the other receivers while messages wait). When all are
/// in, closing the socket must wake every receiver still parked.
async fn many_receivers(receivers: usize, senders: usize, per_sender: u64) {
    let ctx = Context::new();
    let pull = Arc::new(ctx.socket(SocketType::Pull).unwrap());
    pull.set(options::RCVHWM, 10).unwrap();
    let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = Arc::new(ctx.socket(SocketType::Push).unwrap());
    push.set(options::SNDHWM, 10).unwrap();
    push.connect(&endpoint).unwrap();
    let total = senders as u64 * per_sender;

    let received = Arc::new(AtomicUsize::new(0));
    let mut receiver_tasks = Vec::new();
    for _ in 0..receivers {
        let pull = Arc::clone(&pull);
        let received = Arc::clone(&received);
        receiver_tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                match pull.recv().await {
                    Ok(msg) => {
                        mine.push(number_of(&msg));
                        if received.fetch_add(1, Ordering::SeqCst) + 1 == total as usize {
                            pull.close();
                        }
                    }
                    Err(Error::Closed) => return mine,
                    Err(e) => panic!("receiver: {e}"),
                }
            }
        }));
    }
    let mut sender_tasks = Vec::new();
    for s in 0..senders as u64 {
        let push = Arc::clone(&push);
        sender_tasks.push(tokio::spawn(async move {
            for i in 0..per_sender {
                push.send(numbered(s * per_sender + i)).await.unwrap();
            }
        }));
    }

    let all = bounded(
        "many receivers on one socket",
        Duration::from_secs(120),
        async {
            for task in sender_tasks {
                task.await.unwrap();
            }
            let mut all = Vec::new();
            for task in receiver_tasks {
                all.extend(task.await.unwrap());
            }
            all
        },
    )
    .await;
    assert_eq!(all.len() as u64, total, "lost or duplicated messages");
    let unique: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(unique.len() as u64, total, "duplicated messages");
}

#[tokio::test(flavor = "current_thread")]
async fn many_receivers_current_thread() {
    many_receivers(8, 1, 20_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_receivers_and_senders_multi_thread() {
    many_receivers(8, 4, 10_000).await;
}

/// A socket used as `Stream` and `Sink` at once through `StreamExt::split`:
/// the two halves poll the same readiness from one task each, where a
/// single-waker design would lose one half's wakeup.
async fn split_stream_sink(total: u64) {
    let ctx = Context::new();
    let echo = ctx.socket(SocketType::Router).unwrap();
    echo.set(options::ROUTER_MANDATORY, true).unwrap();
    echo.bind("inproc://split").unwrap();
    let client = ctx.socket(SocketType::Dealer).unwrap();
    client.set(options::SNDHWM, 20).unwrap();
    client.connect("inproc://split").unwrap();
    let echo_task = tokio::spawn(async move {
        for _ in 0..total {
            let msg = echo.recv().await.unwrap();
            echo.send(msg).await.unwrap();
        }
    });

    let (mut sink, mut stream) = client.split();
    let sender = tokio::spawn(async move {
        for n in 0..total {
            sink.send(numbered(n)).await.unwrap();
        }
    });
    bounded(
        "Stream + Sink halves of one socket",
        Duration::from_secs(120),
        async {
            for expected in 0..total {
                let msg = stream.next().await.expect("stream ended").unwrap();
                assert_eq!(number_of(&msg), expected);
            }
            sender.await.unwrap();
            echo_task.await.unwrap();
        },
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn split_stream_sink_current_thread() {
    split_stream_sink(50_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_stream_sink_multi_thread() {
    split_stream_sink(50_000).await;
}

/// A backlog drains without starving the runtime: while one task receives
/// a large backlog that is ready all along, a current-thread runtime's
/// timer keeps firing. Without spending the cooperative budget the drain
/// never yields and the timer cannot tick until it ends.
#[tokio::test(flavor = "current_thread")]
async fn draining_a_backlog_lets_timers_fire() {
    const BACKLOG: usize = 100_000;
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set(options::RCVHWM, 0).unwrap();
    pull.bind("inproc://backlog").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set(options::SNDHWM, 0).unwrap();
    push.connect("inproc://backlog").unwrap();
    for n in 0..BACKLOG as u64 {
        push.try_send(numbered(n)).unwrap();
    }

    let draining = Arc::new(AtomicBool::new(true));
    let ticks_while_draining = Arc::new(AtomicUsize::new(0));
    let ticker = {
        let draining = Arc::clone(&draining);
        let ticks = Arc::clone(&ticks_while_draining);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(1));
            while draining.load(Ordering::SeqCst) {
                interval.tick().await;
                if draining.load(Ordering::SeqCst) {
                    ticks.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    // Let the ticker start before the drain.
    tokio::task::yield_now().await;

    bounded("draining the backlog", Duration::from_secs(60), async {
        for expected in 0..BACKLOG as u64 {
            assert_eq!(number_of(&pull.recv().await.unwrap()), expected);
        }
    })
    .await;
    draining.store(false, Ordering::SeqCst);
    ticker.await.unwrap();
    assert!(
        ticks_while_draining.load(Ordering::SeqCst) > 0,
        "the timer never fired while {BACKLOG} messages drained: recv does not yield"
    );
}

/// The same for the `Stream` impl.
#[tokio::test(flavor = "current_thread")]
async fn draining_a_stream_lets_other_tasks_run() {
    const BACKLOG: usize = 50_000;
    let ctx = Context::new();
    let mut pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set(options::RCVHWM, 0).unwrap();
    pull.bind("inproc://stream-backlog").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set(options::SNDHWM, 0).unwrap();
    push.connect("inproc://stream-backlog").unwrap();
    for n in 0..BACKLOG as u64 {
        push.try_send(numbered(n)).unwrap();
    }
    let draining = Arc::new(AtomicBool::new(true));
    let runs = Arc::new(AtomicUsize::new(0));
    let other = {
        let draining = Arc::clone(&draining);
        let runs = Arc::clone(&runs);
        tokio::spawn(async move {
            while draining.load(Ordering::SeqCst) {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        })
    };
    tokio::task::yield_now().await;
    let before = runs.load(Ordering::SeqCst);
    bounded("draining the stream", Duration::from_secs(60), async {
        for expected in 0..BACKLOG as u64 {
            let msg = pull.next().await.unwrap().unwrap();
            assert_eq!(number_of(&msg), expected);
        }
    })
    .await;
    let during = runs.load(Ordering::SeqCst) - before;
    draining.store(false, Ordering::SeqCst);
    other.await.unwrap();
    assert!(during > 0, "no other task ran while the stream drained");
}

// ---------------------------------------------------------------------------
// Regression tests for issue #12: lost wakeups on shared sockets.
//
// Every libzmq call that processes the socket's commands drains `ZMQ_FD`'s
// mailbox, failed calls included (a send or receive that finds nothing, a
// `ZMQ_EVENTS` read through `get`, a bind that fails). When such a call
// runs between the I/O thread's signal and the reactor's harvest, the edge
// is gone, and only the caller can know what it made ready: it must wake
// the waiters. Each case below puts one such caller beside a waiter on the
// same socket, and fails when the waiter makes no progress for a while
// although what it waits for is there.
// ---------------------------------------------------------------------------

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use zmq_tokio::TrySendError;

/// How long a waiter may make no progress before the test calls it lost.
/// Generous against a loaded machine: on a good build every case moves
/// every few milliseconds.
const STALL: Duration = Duration::from_secs(2);

/// The bound on any one case as a whole.
const CASE_BOUND: Duration = Duration::from_secs(30);

/// Sets the flag when dropped, so that helper threads stop when a test
/// fails by panicking as well as when it ends.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn stop_flag() -> (Arc<AtomicBool>, StopOnDrop) {
    let flag = Arc::new(AtomicBool::new(false));
    (Arc::clone(&flag), StopOnDrop(flag))
}

/// Waits until `progress` reaches `total`, failing the test when it does
/// not move for [`STALL`] (or the case takes longer than [`CASE_BOUND`]).
async fn watch_progress(what: &str, progress: &AtomicU64, total: u64) {
    support::watch_progress(what, total, STALL, CASE_BOUND, || {
        progress.load(Ordering::SeqCst)
    })
    .await
}

/// Busy-waits, as a task doing some work between calls would.
fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The peer of a test, on a plain thread: over tcp a socket of the
/// synchronous `zmq` crate (a ZeroMQ stack independent of our readiness
/// code); over inproc, which needs our context, a socket of ours driven by
/// the thread's own current-thread runtime, used by that thread alone.
enum Peer {
    Sync(zmq::Socket),
    Ours(Socket, Box<tokio::runtime::Runtime>),
}

/// How a peer attaches: binds a fresh endpoint, or connects to one.
enum Attach<'a> {
    Bind,
    Connect(&'a str),
}

/// How long one peer receive waits before it returns `None` (so that the
/// peer's loop can look at its stop flag).
const PEER_POLL: Duration = Duration::from_millis(50);

impl Peer {
    /// A peer of `kind` with both high-water marks at `hwm`; returns it
    /// and the endpoint it bound (or the one it connected to).
    fn new(
        transport: Transport,
        ctx: &Context,
        kind: SocketType,
        hwm: i32,
        attach: Attach<'_>,
    ) -> (Peer, String) {
        match transport {
            Transport::Tcp => {
                let zkind = match kind {
                    SocketType::Dealer => zmq::DEALER,
                    SocketType::Push => zmq::PUSH,
                    SocketType::Pull => zmq::PULL,
                    SocketType::Rep => zmq::REP,
                    other => panic!("no sync peer of type {other}"),
                };
                let socket = zmq::Context::new().socket(zkind).unwrap();
                socket.set_linger(0).unwrap();
                socket.set_sndhwm(hwm).unwrap();
                socket.set_rcvhwm(hwm).unwrap();
                socket.set_rcvtimeo(PEER_POLL.as_millis() as i32).unwrap();
                socket.set_sndtimeo(1_000).unwrap();
                let endpoint = match attach {
                    Attach::Bind => {
                        socket.bind(&fresh_endpoint(transport, "wakeups")).unwrap();
                        socket.get_last_endpoint().unwrap().unwrap()
                    }
                    Attach::Connect(endpoint) => {
                        socket.connect(endpoint).unwrap();
                        endpoint.to_owned()
                    }
                };
                (Peer::Sync(socket), endpoint)
            }
            Transport::Inproc => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let (socket, endpoint) = {
                    let _in_rt = rt.enter();
                    let socket = ctx.socket(kind).unwrap();
                    socket.set(options::LINGER, 0).unwrap();
                    socket.set(options::SNDHWM, hwm).unwrap();
                    socket.set(options::RCVHWM, hwm).unwrap();
                    let endpoint = match attach {
                        Attach::Bind => socket.bind(&fresh_endpoint(transport, "wakeups")).unwrap(),
                        Attach::Connect(endpoint) => {
                            socket.connect(endpoint).unwrap();
                            endpoint.to_owned()
                        }
                    };
                    (socket, endpoint)
                };
                (Peer::Ours(socket, Box::new(rt)), endpoint)
            }
        }
    }

    /// A message, or `None` when none came within [`PEER_POLL`].
    fn recv(&self) -> Option<Vec<Vec<u8>>> {
        match self {
            Peer::Sync(socket) => socket.recv_multipart(0).ok(),
            Peer::Ours(socket, rt) => rt.block_on(async {
                let msg = tokio::time::timeout(PEER_POLL, socket.recv())
                    .await
                    .ok()?
                    .unwrap();
                Some(msg.iter().map(|frame| frame.to_vec()).collect())
            }),
        }
    }

    /// Sends a message (giving up after a second without room).
    fn send(&self, frames: Vec<Vec<u8>>) -> bool {
        match self {
            Peer::Sync(socket) => socket.send_multipart(frames, 0).is_ok(),
            Peer::Ours(socket, rt) => rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(1), socket.send(frames))
                    .await
                    .is_ok_and(|sent| sent.is_ok())
            }),
        }
    }
}

fn frames_of(n: u64) -> Vec<Vec<u8>> {
    vec![n.to_le_bytes().to_vec(), b"payload".to_vec()]
}

fn number_in(frames: &[Vec<u8>]) -> u64 {
    assert_eq!(frames.len(), 2, "frames: {frames:?}");
    u64::from_le_bytes(frames[0][..].try_into().expect("8-byte counter"))
}

/// A peer thread that receives `total` numbered messages in order,
/// pausing `pause` after every `every` of them, and counts them in
/// `received`. It stops early when `stop` is set.
fn spawn_reader(
    peer: Peer,
    total: u64,
    every: u64,
    pause: Duration,
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut next = 0;
        while next < total && !stop.load(Ordering::SeqCst) {
            let Some(frames) = peer.recv() else { continue };
            assert_eq!(number_in(&frames), next, "peer: lost or out of order");
            next += 1;
            received.store(next, Ordering::SeqCst);
            if next % every == 0 {
                std::thread::sleep(pause);
            }
        }
    })
}

/// Sends `msg`, waiting as the sender of case 1 does.
async fn send_as(how: SendHow, socket: &Socket, msg: Multipart) {
    match how {
        SendHow::Send => socket.send(msg).await.unwrap(),
        SendHow::WritableThenTrySend => {
            let mut msg = msg;
            loop {
                match socket.try_send(msg) {
                    Ok(()) => return,
                    Err(TrySendError::Full(back)) => {
                        msg = back;
                        socket.writable().await.unwrap();
                    }
                    Err(e) => panic!("try_send: {e}"),
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum SendHow {
    /// `send().await`.
    Send,
    /// `try_send`, and `writable().await` when it is full.
    WritableThenTrySend,
}

/// What shares the socket with the sender in cases 1 and 2.
#[derive(Debug, Clone, Copy)]
enum Beside {
    /// A task looping `timeout(100 µs, socket.recv())` (case 1).
    RecvWithTimeout,
    /// A thread polling `socket.try_recv()` (case 2).
    TryRecvThread,
}

/// Cases 1 and 2 of issue #12: a DEALER with `SNDHWM` 1 sends `total`
/// numbered messages from one task while another caller keeps failing to
/// receive on the same socket (each failed attempt drains the mailbox,
/// and with it the edge that says the peer made room). The peer (`RCVHWM`
/// 1) reads everything, pausing 50 µs every 64 messages.
async fn sender_beside_failing_receiver(
    transport: Transport,
    beside: Beside,
    how: SendHow,
    total: u64,
) {
    let what = format!("sender beside {beside:?} ({how:?}) over {transport:?}");
    let ctx = Context::new();
    let (stop, _stop_on_drop) = stop_flag();
    let (peer, endpoint) = Peer::new(transport, &ctx, SocketType::Dealer, 1, Attach::Bind);
    let socket = Arc::new(ctx.socket(SocketType::Dealer).unwrap());
    socket.set(options::LINGER, 0).unwrap();
    socket.set(options::SNDHWM, 1).unwrap();
    socket.set(options::RCVHWM, 1).unwrap();
    socket.connect(&endpoint).unwrap();

    let received = Arc::new(AtomicU64::new(0));
    let reader = spawn_reader(
        peer,
        total,
        64,
        Duration::from_micros(50),
        Arc::clone(&received),
        Arc::clone(&stop),
    );
    let sent = Arc::new(AtomicU64::new(0));
    let sender = {
        let socket = Arc::clone(&socket);
        let sent = Arc::clone(&sent);
        tokio::spawn(async move {
            for n in 0..total {
                send_as(how, &socket, numbered(n)).await;
                sent.store(n + 1, Ordering::SeqCst);
            }
        })
    };
    let mut other_thread = None;
    let mut other_task = None;
    match beside {
        Beside::RecvWithTimeout => {
            let socket = Arc::clone(&socket);
            let stop = Arc::clone(&stop);
            other_task = Some(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let got = tokio::time::timeout(Duration::from_micros(100), socket.recv()).await;
                    assert!(got.is_err(), "the peer sends nothing: {got:?}");
                }
            }));
        }
        Beside::TryRecvThread => {
            let socket = Arc::clone(&socket);
            let stop = Arc::clone(&stop);
            other_thread = Some(std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    assert!(
                        socket.try_recv().unwrap().is_none(),
                        "the peer sends nothing"
                    );
                    std::thread::yield_now();
                }
            }));
        }
    }

    watch_progress(&format!("{what}: messages sent"), &sent, total).await;
    watch_progress(&format!("{what}: messages the peer got"), &received, total).await;
    stop.store(true, Ordering::SeqCst);
    sender.await.unwrap();
    if let Some(task) = other_task {
        task.await.unwrap();
    }
    if let Some(thread) = other_thread {
        thread.join().unwrap();
    }
    reader.join().unwrap();
}

const CASE1_TOTAL: u64 = 20_000;

on_both_runtimes! {
    case1_recv_timeout_loop_beside_sender_tcp => sender_beside_failing_receiver(
        Transport::Tcp, Beside::RecvWithTimeout, SendHow::Send, CASE1_TOTAL);
    case1_recv_timeout_loop_beside_sender_inproc => sender_beside_failing_receiver(
        Transport::Inproc, Beside::RecvWithTimeout, SendHow::Send, CASE1_TOTAL);
    case1_recv_timeout_loop_beside_writable_waiter_tcp => sender_beside_failing_receiver(
        Transport::Tcp, Beside::RecvWithTimeout, SendHow::WritableThenTrySend, CASE1_TOTAL);
    case1_recv_timeout_loop_beside_writable_waiter_inproc => sender_beside_failing_receiver(
        Transport::Inproc, Beside::RecvWithTimeout, SendHow::WritableThenTrySend, CASE1_TOTAL);
    case2_try_recv_thread_beside_sender_tcp => sender_beside_failing_receiver(
        Transport::Tcp, Beside::TryRecvThread, SendHow::Send, CASE1_TOTAL);
    case2_try_recv_thread_beside_sender_inproc => sender_beside_failing_receiver(
        Transport::Inproc, Beside::TryRecvThread, SendHow::Send, CASE1_TOTAL);
    case2_try_recv_thread_beside_writable_waiter_tcp => sender_beside_failing_receiver(
        Transport::Tcp, Beside::TryRecvThread, SendHow::WritableThenTrySend, CASE1_TOTAL);
}

/// What a thread keeps doing to the socket in cases 3 and 4: each call
/// processes the socket's commands, and none of them succeeds at sending
/// or receiving.
#[derive(Debug, Clone, Copy)]
enum Drainer {
    /// `socket.get(options::EVENTS)` (case 3).
    GetEvents,
    /// `bind` on the endpoint the socket is already bound to:
    /// `EADDRINUSE` (case 4).
    FailingBind,
    /// `try_send` on a PULL socket, which cannot send (`ENOTSUP`).
    FailingTrySend,
    /// `unbind` of an endpoint the socket is not bound to.
    FailingUnbind,
    /// `try_send` on a DEALER whose peer never reads (`Full`).
    FullTrySend,
}

/// How the waiter of cases 3 and 4 waits.
#[derive(Debug, Clone, Copy)]
enum WaitHow {
    /// `recv().await`.
    Recv,
    /// `readable().await`, then `try_recv`.
    Readable,
}

/// Cases 3 and 4 of issue #12: a task waits on a PULL socket while a
/// thread keeps calling into it (see [`Drainer`]); a PUSH peer sends one
/// message 200 µs later. The wait must end within a second, `rounds`
/// times.
async fn waiter_beside_drainer(transport: Transport, drainer: Drainer, how: WaitHow, rounds: u64) {
    const BOUND: Duration = Duration::from_secs(1);
    const LATE: Duration = Duration::from_secs(20);
    let what = format!("{how:?} beside a thread doing {drainer:?} over {transport:?}");
    let ctx = Context::new();
    let (stop, _stop_on_drop) = stop_flag();
    // A PULL fed by a PUSH; for a full `try_send`, a DEALER whose peer
    // DEALER sends but never reads, so that its send side fills up.
    let full = matches!(drainer, Drainer::FullTrySend);
    let (kind, peer_kind, peer_hwm) = match full {
        false => (SocketType::Pull, SocketType::Push, 1000),
        true => (SocketType::Dealer, SocketType::Dealer, 1),
    };
    let socket = Arc::new(ctx.socket(kind).unwrap());
    socket.set(options::LINGER, 0).unwrap();
    socket.set(options::SNDHWM, 1).unwrap();
    let endpoint = socket.bind(&fresh_endpoint(transport, "wakeups")).unwrap();
    let (peer, _) = Peer::new(
        transport,
        &ctx,
        peer_kind,
        peer_hwm,
        Attach::Connect(&endpoint),
    );
    // The peer thread sends message `round` 200 µs after each go.
    let (go, gone) = std::sync::mpsc::channel::<u64>();
    // The last round the peer has sent, for the report of a message that
    // never comes (was it sent at all?). `NOTHING_SENT` until the first
    // message (round `u64::MAX`, the connection check) has gone.
    const NOTHING_SENT: u64 = u64::MAX - 1;
    let sent = Arc::new(AtomicU64::new(NOTHING_SENT));
    let pusher = {
        let sent = Arc::clone(&sent);
        std::thread::spawn(move || {
            while let Ok(round) = gone.recv() {
                spin(Duration::from_micros(200));
                assert!(peer.send(frames_of(round)), "the peer could not send");
                sent.store(round, Ordering::SeqCst);
            }
        })
    };
    // The connection is up once a first message comes through.
    go.send(u64::MAX).unwrap();
    let first = bounded("the first message", Duration::from_secs(10), socket.recv())
        .await
        .unwrap();
    assert_eq!(number_of(&first), u64::MAX);
    if full {
        // Fill the send side: over inproc the pipe holds SNDHWM + the
        // peer's RCVHWM messages.
        let mut sent = 0;
        while socket.try_send("fill").is_ok() {
            sent += 1;
            assert!(sent < 10_000, "the send side never fills");
        }
    }

    let calls = Arc::new(AtomicU64::new(0));
    // Two threads, so that one of them runs while the other is preempted
    // (by the very reactor thread it races, for one).
    let drain: Vec<_> = (0..DRAINER_THREADS)
        .map(|_| {
            let socket = Arc::clone(&socket);
            let stop = Arc::clone(&stop);
            let calls = Arc::clone(&calls);
            let endpoint = endpoint.clone();
            let elsewhere = fresh_endpoint(Transport::Inproc, "wakeups");
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match drainer {
                        Drainer::GetEvents => {
                            socket.get(options::EVENTS).unwrap();
                        }
                        Drainer::FailingBind => {
                            let err = socket.bind(&endpoint).unwrap_err();
                            assert_eq!(
                                err.errno(),
                                Some(zmq::Error::EADDRINUSE.to_raw()),
                                "bind {endpoint}: {err}"
                            );
                        }
                        Drainer::FailingTrySend => match socket.try_send("nope") {
                            Err(TrySendError::Failed(..)) => {}
                            other => panic!("try_send on PULL: {other:?}"),
                        },
                        Drainer::FailingUnbind => {
                            socket.unbind(&elsewhere).unwrap_err();
                        }
                        Drainer::FullTrySend => match socket.try_send("fill") {
                            Err(TrySendError::Full(_)) => {}
                            other => panic!("try_send on a full DEALER: {other:?}"),
                        },
                    }
                    // No yield: the tighter the loop, the likelier a call
                    // drains the mailbox before the reactor harvests the edge.
                    calls.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // The drainer is running before the first round.
    while calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    let start = Instant::now();
    for round in 0..rounds {
        let waiter = {
            let socket = Arc::clone(&socket);
            tokio::spawn(async move {
                match how {
                    WaitHow::Recv => socket.recv().await.unwrap(),
                    WaitHow::Readable => {
                        socket.readable().await.unwrap();
                        socket
                            .try_recv()
                            .unwrap()
                            .expect("readable, yet no message")
                    }
                }
            })
        };
        go.send(round).unwrap();
        let started = Instant::now();
        let mut waiter = waiter;
        match tokio::time::timeout(BOUND, &mut waiter).await {
            Ok(msg) => assert_eq!(number_of(&msg.unwrap()), round),
            Err(_) => {
                waiter.abort();
                let _ = waiter.await;
                match socket.try_recv().unwrap() {
                    Some(_) => panic!(
                        "{what} ({}), round {round} of {rounds}: still waiting after {:?} \
                         while try_recv then found the message (a lost wakeup)",
                        flavour(),
                        started.elapsed(),
                    ),
                    // Not a lost wakeup: the message is late (a loaded
                    // machine). Wait for it, so the next round starts clean.
                    None => {
                        let late = tokio::time::timeout(LATE, socket.recv()).await;
                        let msg = late.unwrap_or_else(|_| {
                            panic!(
                                "{what}, round {round}: the message never came (the peer's \
                                 last sent round: {})",
                                sent.load(Ordering::SeqCst)
                            )
                        });
                        assert_eq!(number_of(&msg.unwrap()), round);
                        eprintln!("{what}, round {round}: the message came late");
                    }
                }
            }
        }
    }
    eprintln!(
        "{what} ({}): {rounds} rounds in {:?}",
        flavour(),
        start.elapsed()
    );
    stop.store(true, Ordering::SeqCst);
    for thread in drain {
        thread.join().unwrap();
    }
    drop(go);
    pusher.join().unwrap();
}

const CASE3_ROUNDS: u64 = 60;
const DRAINER_THREADS: usize = 2;

on_both_runtimes! {
    case3_recv_beside_events_reader_tcp => waiter_beside_drainer(
        Transport::Tcp, Drainer::GetEvents, WaitHow::Recv, CASE3_ROUNDS);
    case3_recv_beside_events_reader_inproc => waiter_beside_drainer(
        Transport::Inproc, Drainer::GetEvents, WaitHow::Recv, CASE3_ROUNDS);
    case3_readable_beside_events_reader_tcp => waiter_beside_drainer(
        Transport::Tcp, Drainer::GetEvents, WaitHow::Readable, CASE3_ROUNDS);
    case3_readable_beside_events_reader_inproc => waiter_beside_drainer(
        Transport::Inproc, Drainer::GetEvents, WaitHow::Readable, CASE3_ROUNDS);
    case4_recv_beside_failing_bind_tcp => waiter_beside_drainer(
        Transport::Tcp, Drainer::FailingBind, WaitHow::Recv, CASE3_ROUNDS);
    case4_recv_beside_failing_bind_inproc => waiter_beside_drainer(
        Transport::Inproc, Drainer::FailingBind, WaitHow::Recv, CASE3_ROUNDS);
    case4_recv_beside_failing_unbind_tcp => waiter_beside_drainer(
        Transport::Tcp, Drainer::FailingUnbind, WaitHow::Recv, CASE3_ROUNDS);
    failing_try_send_beside_recv_tcp => waiter_beside_drainer(
        Transport::Tcp, Drainer::FailingTrySend, WaitHow::Recv, CASE3_ROUNDS);
    failing_try_send_beside_recv_inproc => waiter_beside_drainer(
        Transport::Inproc, Drainer::FailingTrySend, WaitHow::Recv, CASE3_ROUNDS);
    failing_try_send_beside_readable_tcp => waiter_beside_drainer(
        Transport::Tcp, Drainer::FailingTrySend, WaitHow::Readable, CASE3_ROUNDS);
    full_try_send_beside_recv_inproc => waiter_beside_drainer(
        Transport::Inproc, Drainer::FullTrySend, WaitHow::Recv, CASE3_ROUNDS);
    full_try_send_beside_readable_inproc => waiter_beside_drainer(
        Transport::Inproc, Drainer::FullTrySend, WaitHow::Readable, CASE3_ROUNDS);
}

/// How the two tasks of case 5 use the socket.
#[derive(Debug, Clone, Copy)]
enum DuplexHow {
    /// `send` and `recv` on one `Arc<Socket>`.
    SendRecv,
    /// The `Sink` and `Stream` halves of `StreamExt::split`.
    SplitHalves,
}

/// Case 5 of issue #12: plain duplex, nothing else touching the socket. A
/// DEALER (`SNDHWM`/`RCVHWM` 10) is shared by a task sending `total`
/// numbered messages and a task receiving the peer's acks; the peer, on its
/// own thread, acks once per 50 messages; the receiver spins 100 µs after
/// each ack.
async fn duplex_with_acks(transport: Transport, how: DuplexHow, total: u64) {
    const EVERY: u64 = 50;
    let acks = total / EVERY;
    let what = format!("duplex with acks ({how:?}) over {transport:?}");
    let ctx = Context::new();
    let (stop, _stop_on_drop) = stop_flag();
    let (peer, endpoint) = Peer::new(transport, &ctx, SocketType::Dealer, 10, Attach::Bind);
    let socket = ctx.socket(SocketType::Dealer).unwrap();
    socket.set(options::LINGER, 0).unwrap();
    socket.set(options::SNDHWM, 10).unwrap();
    socket.set(options::RCVHWM, 10).unwrap();
    socket.connect(&endpoint).unwrap();

    let peer_got = Arc::new(AtomicU64::new(0));
    let peer_thread = {
        let peer_got = Arc::clone(&peer_got);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut next = 0;
            while next < total && !stop.load(Ordering::SeqCst) {
                let Some(frames) = peer.recv() else { continue };
                assert_eq!(number_in(&frames), next, "peer: lost or out of order");
                next += 1;
                peer_got.store(next, Ordering::SeqCst);
                if next % EVERY == 0 {
                    while !peer.send(frames_of(next / EVERY - 1)) {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                    }
                }
            }
        })
    };

    // Progress: messages sent plus acks received.
    let progress = Arc::new(AtomicU64::new(0));
    let (sender, receiver) = match how {
        DuplexHow::SendRecv => {
            let socket = Arc::new(socket);
            let sender = {
                let socket = Arc::clone(&socket);
                let progress = Arc::clone(&progress);
                tokio::spawn(async move {
                    for n in 0..total {
                        socket.send(numbered(n)).await.unwrap();
                        progress.fetch_add(1, Ordering::SeqCst);
                    }
                })
            };
            let receiver = {
                let progress = Arc::clone(&progress);
                tokio::spawn(async move {
                    for ack in 0..acks {
                        let msg = socket.recv().await.unwrap();
                        assert_eq!(number_of(&msg), ack, "acks lost or out of order");
                        progress.fetch_add(1, Ordering::SeqCst);
                        spin(Duration::from_micros(100));
                    }
                })
            };
            (sender, receiver)
        }
        DuplexHow::SplitHalves => {
            let (mut sink, mut stream) = socket.split();
            let sender = {
                let progress = Arc::clone(&progress);
                tokio::spawn(async move {
                    for n in 0..total {
                        sink.send(numbered(n)).await.unwrap();
                        progress.fetch_add(1, Ordering::SeqCst);
                    }
                })
            };
            let receiver = {
                let progress = Arc::clone(&progress);
                tokio::spawn(async move {
                    for ack in 0..acks {
                        let msg = stream.next().await.expect("stream ended").unwrap();
                        assert_eq!(number_of(&msg), ack, "acks lost or out of order");
                        progress.fetch_add(1, Ordering::SeqCst);
                        spin(Duration::from_micros(100));
                    }
                })
            };
            (sender, receiver)
        }
    };
    watch_progress(
        &format!("{what}: messages sent + acks received"),
        &progress,
        total + acks,
    )
    .await;
    sender.await.unwrap();
    receiver.await.unwrap();
    assert_eq!(peer_got.load(Ordering::SeqCst), total);
    peer_thread.join().unwrap();
}

const CASE5_TOTAL: u64 = 50_000;

on_both_runtimes! {
    case5_duplex_with_acks_inproc => duplex_with_acks(
        Transport::Inproc, DuplexHow::SendRecv, CASE5_TOTAL);
    case5_duplex_with_acks_tcp => duplex_with_acks(
        Transport::Tcp, DuplexHow::SendRecv, CASE5_TOTAL);
    case5_split_halves_with_acks_inproc => duplex_with_acks(
        Transport::Inproc, DuplexHow::SplitHalves, CASE5_TOTAL);
    case5_split_halves_with_acks_tcp => duplex_with_acks(
        Transport::Tcp, DuplexHow::SplitHalves, CASE5_TOTAL);
}
