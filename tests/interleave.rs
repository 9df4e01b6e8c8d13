//! A randomized interleaving test of one socket pair (issue #12): several
//! tasks and threads on each socket do a random mix of every operation
//! (send, recv, try_send, try_recv, recv and send raced against random short
//! timers, readable/writable, `events()`, option reads through `get`,
//! failing binds and unbinds, the `Stream`/`Sink` halves of `split`), on
//! both runtime flavours, over inproc and tcp. It asserts that every
//! numbered message is delivered exactly once, in both directions, and that
//! no side stands still for more than a second while what it waits for is
//! known to be there:
//!
//! - receivers: the peer has sent more than they got, and nothing was
//!   received for a second;
//! - senders: a message waits to be sent, every message sent so far has
//!   been received (so the pipe is empty and there is room), and nothing
//!   was sent for a second.
//!
//! The watchdog only reads counters: it never calls into the sockets, so
//! it cannot wake a waiter that the code under test forgot.
//!
//! The run is driven by a seeded PRNG; the seed is printed at the start.
//! Replay a failure with `ZMQ_TOKIO_INTERLEAVE_SEED=<seed>` (the threads'
//! timing still varies, so a replay repeats the same mix of operations,
//! not the same schedule). `ZMQ_TOKIO_INTERLEAVE_SECS` sets how long each
//! runtime flavour runs (default 2 s; a long run: 300), and
//! `ZMQ_TOKIO_INTERLEAVE_STALL_MS` how long a side may stand still (default
//! 1000).

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_util::sync::CancellationToken;
use zmq_tokio::{options, Context, Multipart, Socket, SocketType, TrySendError};

mod support;
use support::Transport;

/// How long a side may stand still while what it waits for is there.
/// (`ZMQ_TOKIO_INTERLEAVE_STALL_MS` sets it, for a run on a machine busy
/// with other work, where a thread may stand still that long unscheduled.)
fn stall() -> Duration {
    let millis = std::env::var("ZMQ_TOKIO_INTERLEAVE_STALL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    Duration::from_millis(millis)
}

/// The most messages one direction makes in a phase: over tcp senders can
/// run far ahead of receivers (kernel buffers), and the drain at the end of
/// a phase must stay short.
const MAX_PER_FLOW: u64 = 20_000;

/// The bound on draining one phase after its senders stop.
const DRAIN_BOUND: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// A small seeded PRNG (xorshift64*), so that the test needs no dependency.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` %.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A random non-empty subset of `items`.
    fn subset<T: Copy>(&mut self, items: &[T]) -> Vec<T> {
        loop {
            let chosen: Vec<T> = items.iter().copied().filter(|_| self.chance(50)).collect();
            if !chosen.is_empty() {
                return chosen;
            }
        }
    }

    /// A new generator for a task or thread.
    fn split(&mut self) -> Rng {
        Rng::new(self.next())
    }

    fn micros(&mut self, max: u64) -> Duration {
        Duration::from_micros(self.below(max + 1))
    }
}

fn seed_and_secs() -> (u64, u64) {
    let seed = match std::env::var("ZMQ_TOKIO_INTERLEAVE_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .expect("ZMQ_TOKIO_INTERLEAVE_SEED: a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    let secs = match std::env::var("ZMQ_TOKIO_INTERLEAVE_SECS") {
        Ok(text) => text
            .trim()
            .parse()
            .expect("ZMQ_TOKIO_INTERLEAVE_SECS: whole seconds"),
        Err(_) => 2,
    };
    (seed, secs)
}

// ---------------------------------------------------------------------------
// Bookkeeping: one `Flow` per direction.
// ---------------------------------------------------------------------------

/// The messages of one direction: numbered as they are made, counted as
/// they are sent and as they are received.
#[derive(Debug)]
struct Flow {
    name: &'static str,
    /// Messages made (numbers handed out).
    made: AtomicU64,
    /// Messages libzmq took (a send returned `Ok`).
    sent: AtomicU64,
    /// Messages received.
    received: AtomicU64,
    /// How many times each number was received.
    seen: Mutex<Vec<u8>>,
}

impl Flow {
    fn new(name: &'static str) -> Flow {
        Flow {
            name,
            made: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            seen: Mutex::new(Vec::new()),
        }
    }

    /// Whether a sender may make another message.
    fn open(&self, shared: &Shared) -> bool {
        !shared.stop_sending.is_cancelled() && self.made.load(Ordering::SeqCst) < MAX_PER_FLOW
    }

    fn make(&self) -> Multipart {
        let n = self.made.fetch_add(1, Ordering::SeqCst);
        Multipart::from(vec![
            self.name.as_bytes().to_vec(),
            n.to_le_bytes().to_vec(),
        ])
    }

    fn sent_one(&self) {
        self.sent.fetch_add(1, Ordering::SeqCst);
    }

    /// Records a received message; an error names what was wrong with it.
    fn record(&self, msg: &Multipart) -> Result<(), String> {
        if msg.len() != 2 || msg[0][..] != *self.name.as_bytes() || msg[1].len() != 8 {
            return Err(format!(
                "{}: a message not of this flow: {msg:?}",
                self.name
            ));
        }
        let n = u64::from_le_bytes(msg[1][..].try_into().unwrap()) as usize;
        let mut seen = self.seen.lock().unwrap();
        if seen.len() <= n {
            seen.resize(n + 1, 0);
        }
        seen[n] += 1;
        if seen[n] > 1 {
            return Err(format!("{}: message {n} received twice", self.name));
        }
        self.received.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Every message made was received exactly once.
    fn check_complete(&self) -> Result<(), String> {
        let made = self.made.load(Ordering::SeqCst) as usize;
        let seen = self.seen.lock().unwrap();
        let missing: Vec<usize> = (0..made).filter(|&n| seen.get(n) != Some(&1)).collect();
        if !missing.is_empty() || seen.len() > made {
            return Err(format!(
                "{}: {made} made, {} received; not received exactly once: {:?}",
                self.name,
                self.received.load(Ordering::SeqCst),
                &missing[..missing.len().min(20)]
            ));
        }
        Ok(())
    }
}

/// What the actors of one phase share.
#[derive(Debug)]
struct Shared {
    /// Set when senders must stop making new messages.
    stop_sending: CancellationToken,
    /// Set when everybody must stop (all messages are in).
    stop_all: CancellationToken,
    /// The first failure an actor saw.
    failure: Mutex<Option<String>>,
    /// The endpoint socket A is bound to (a failing bind retries it).
    endpoint: String,
    /// Actors that may still make a message; the phase ends only when
    /// none may and every message made is in.
    senders_active: AtomicUsize,
}

/// Counts a sending actor out when it has stopped making messages (or
/// failed).
struct SendingActor<'a>(&'a Shared);

impl Drop for SendingActor<'_> {
    fn drop(&mut self) {
        self.0.senders_active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    fn fail(&self, what: String) {
        let mut failure = self.failure.lock().unwrap();
        if failure.is_none() {
            eprintln!("failure: {what}");
            *failure = Some(what);
        }
        self.stop_sending.cancel();
        self.stop_all.cancel();
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------
// Operations.
// ---------------------------------------------------------------------------

/// Ways to send one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendOp {
    Send,
    /// `send` raced against a random short timer, retried.
    TimedSend,
    /// `try_send`; when full, `writable().await`.
    TrySendWritable,
    /// `try_send`; when full, a random short sleep.
    TrySendSleep,
}

const SEND_OPS: [SendOp; 4] = [
    SendOp::Send,
    SendOp::TimedSend,
    SendOp::TrySendWritable,
    SendOp::TrySendSleep,
];

/// Ways to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecvOp {
    Recv,
    /// `recv` raced against a random short timer.
    TimedRecv,
    /// `try_recv`, then a yield.
    TryRecv,
    /// `readable().await`, then `try_recv` (another caller may have taken
    /// the message).
    ReadableTryRecv,
}

const RECV_OPS: [RecvOp; 4] = [
    RecvOp::Recv,
    RecvOp::TimedRecv,
    RecvOp::TryRecv,
    RecvOp::ReadableTryRecv,
];

/// Calls that neither send nor receive, but process the socket's commands
/// (or merely read it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MiscOp {
    Events,
    GetEvents,
    GetOption,
    FailingBind,
    FailingUnbind,
    Sleep,
}

const MISC_OPS: [MiscOp; 6] = [
    MiscOp::Events,
    MiscOp::GetEvents,
    MiscOp::GetOption,
    MiscOp::FailingBind,
    MiscOp::FailingUnbind,
    MiscOp::Sleep,
];

/// The operations one phase allows (a random subset of each kind), so that
/// some phases have only plain waiters beside calls that drain the mailbox.
#[derive(Debug, Clone)]
struct Mix {
    send: Vec<SendOp>,
    recv: Vec<RecvOp>,
    misc: Vec<MiscOp>,
    /// Percent of an actor's steps that are a misc op.
    misc_percent: u64,
    /// Whether the phase's threads may `try_recv` (which consumes
    /// messages, and so hides a receiver that was not woken).
    thread_try_recv: bool,
    /// Percent of the `Stream` half's waits raced against a timer.
    stream_timed_percent: u64,
}

/// A misc op from a task or a thread; an error names what went wrong.
fn misc_op(op: MiscOp, socket: &Socket, shared: &Shared, rng: &mut Rng) -> Result<(), String> {
    match op {
        MiscOp::Events => {
            socket.events().map_err(|e| format!("events: {e}"))?;
        }
        MiscOp::GetEvents => {
            socket
                .get(options::EVENTS)
                .map_err(|e| format!("get EVENTS: {e}"))?;
        }
        MiscOp::GetOption => {
            socket
                .get(options::RCVHWM)
                .map_err(|e| format!("get RCVHWM: {e}"))?;
        }
        MiscOp::FailingBind => {
            // Socket A is bound there already, so this fails (EADDRINUSE)
            // on either socket.
            // Once everybody stops, socket A may close (with its last
            // holder) before this call, and then the bind succeeds.
            if socket.bind(&shared.endpoint).is_ok() && !shared.stop_all.is_cancelled() {
                return Err(format!("bind {} succeeded twice", shared.endpoint));
            }
        }
        MiscOp::FailingUnbind => {
            if socket.unbind("inproc://interleave-never-bound").is_ok() {
                return Err("unbind of an endpoint never bound succeeded".into());
            }
        }
        MiscOp::Sleep => std::thread::sleep(rng.micros(50)),
    }
    Ok(())
}

/// Sends one message in the way `op` says. Cancel safe to the extent each
/// way is: a send that is not finished has sent nothing.
async fn send_one(
    op: SendOp,
    socket: &Socket,
    msg: Multipart,
    rng: &mut Rng,
) -> Result<(), String> {
    match op {
        SendOp::Send => socket.send(msg).await.map_err(|e| format!("send: {e}")),
        SendOp::TimedSend => loop {
            // Each attempt sends a copy: a cancelled send drops its message.
            match tokio::time::timeout(rng.micros(500), socket.send(msg.clone())).await {
                Ok(result) => return result.map_err(|e| format!("send: {e}")),
                Err(_) => continue,
            }
        },
        SendOp::TrySendWritable | SendOp::TrySendSleep => {
            let mut msg = msg;
            loop {
                match socket.try_send(msg) {
                    Ok(()) => return Ok(()),
                    Err(TrySendError::Full(back)) => {
                        msg = back;
                        if op == SendOp::TrySendWritable {
                            socket
                                .writable()
                                .await
                                .map_err(|e| format!("writable: {e}"))?;
                        } else {
                            tokio::time::sleep(rng.micros(300)).await;
                        }
                    }
                    Err(e) => return Err(format!("try_send: {e}")),
                }
            }
        }
    }
}

/// A task that sends messages of `flow` on `socket`, with misc ops between,
/// until told to stop sending.
async fn sender_task(
    socket: Arc<Socket>,
    flow: Arc<Flow>,
    shared: Arc<Shared>,
    mix: Mix,
    mut rng: Rng,
) {
    let _active = SendingActor(&shared);
    while flow.open(&shared) {
        if rng.chance(mix.misc_percent) {
            if let Err(e) = misc_op(rng.pick(&mix.misc), &socket, &shared, &mut rng) {
                return shared.fail(format!("sender of {}: {e}", flow.name));
            }
            tokio::task::yield_now().await;
            continue;
        }
        let op = rng.pick(&mix.send);
        let msg = flow.make();
        match send_one(op, &socket, msg, &mut rng).await {
            Ok(()) => flow.sent_one(),
            Err(e) => return shared.fail(format!("sender of {} ({op:?}): {e}", flow.name)),
        }
    }
}

/// Receives at most one message the way `op` says, racing the stop
/// token where it waits. `Ok(None)`: nothing this time.
async fn recv_one(
    op: RecvOp,
    socket: &Socket,
    stop: &CancellationToken,
    rng: &mut Rng,
) -> Result<Option<Multipart>, String> {
    match op {
        RecvOp::Recv => tokio::select! {
            msg = socket.recv() => msg.map(Some).map_err(|e| format!("recv: {e}")),
            () = stop.cancelled() => Ok(None),
        },
        RecvOp::TimedRecv => match tokio::time::timeout(rng.micros(500), socket.recv()).await {
            Ok(msg) => msg.map(Some).map_err(|e| format!("recv: {e}")),
            Err(_) => Ok(None),
        },
        RecvOp::TryRecv => {
            let msg = socket.try_recv().map_err(|e| format!("try_recv: {e}"))?;
            if msg.is_none() {
                tokio::task::yield_now().await;
            }
            Ok(msg)
        }
        RecvOp::ReadableTryRecv => {
            tokio::select! {
                ready = socket.readable() => ready.map_err(|e| format!("readable: {e}"))?,
                () = stop.cancelled() => return Ok(None),
            }
            socket.try_recv().map_err(|e| format!("try_recv: {e}"))
        }
    }
}

/// A task that receives messages of `flow` from `socket`, with misc ops
/// between, until told to stop.
async fn receiver_task(
    socket: Arc<Socket>,
    flow: Arc<Flow>,
    shared: Arc<Shared>,
    mix: Mix,
    mut rng: Rng,
) {
    while !shared.stop_all.is_cancelled() {
        if rng.chance(mix.misc_percent) {
            if let Err(e) = misc_op(rng.pick(&mix.misc), &socket, &shared, &mut rng) {
                return shared.fail(format!("receiver of {}: {e}", flow.name));
            }
            tokio::task::yield_now().await;
            continue;
        }
        let op = rng.pick(&mix.recv);
        match recv_one(op, &socket, &shared.stop_all, &mut rng).await {
            Ok(Some(msg)) => {
                if let Err(e) = flow.record(&msg) {
                    return shared.fail(e);
                }
            }
            Ok(None) => {}
            Err(e) => return shared.fail(format!("receiver of {} ({op:?}): {e}", flow.name)),
        }
    }
}

/// A plain thread doing non-blocking calls only: `try_send` (of `out`),
/// `try_recv` (of `inn`) and misc ops, until told to stop. A message it
/// has made is sent before it stops sending.
fn thread_actor(
    socket: Arc<Socket>,
    out: Arc<Flow>,
    inn: Arc<Flow>,
    shared: Arc<Shared>,
    mix: Mix,
    mut rng: Rng,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let sends = mix.send.iter().any(|&op| op != SendOp::Send);
        let recvs = mix.thread_try_recv;
        let mut pending: Option<Multipart> = None;
        let mut active = Some(SendingActor(&shared));
        while !shared.stop_all.is_cancelled() {
            if pending.is_none() && !out.open(&shared) {
                active = None;
            }
            let step = rng.below(100);
            if step < 35 && (sends || pending.is_some()) {
                let msg = match pending.take() {
                    Some(msg) => msg,
                    None if active.is_none() => continue,
                    None => out.make(),
                };
                match socket.try_send(msg) {
                    Ok(()) => out.sent_one(),
                    Err(TrySendError::Full(back)) => pending = Some(back),
                    Err(e) => return shared.fail(format!("thread try_send ({}): {e}", out.name)),
                }
            } else if step < 70 && recvs {
                match socket.try_recv() {
                    Ok(Some(msg)) => {
                        if let Err(e) = inn.record(&msg) {
                            return shared.fail(e);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => return shared.fail(format!("thread try_recv ({}): {e}", inn.name)),
                }
            } else if let Err(e) = misc_op(rng.pick(&mix.misc), &socket, &shared, &mut rng) {
                return shared.fail(format!("thread ({}): {e}", out.name));
            }
            if rng.chance(10) {
                std::thread::sleep(rng.micros(100));
            } else {
                std::thread::yield_now();
            }
        }
        if pending.is_some() {
            shared.fail(format!(
                "thread ({}): stopped with a message unsent",
                out.name
            ));
        }
        drop(active);
    })
}

/// The `Sink` half of a split socket: sends messages of `flow` until told
/// to stop sending.
async fn sink_task(
    mut sink: futures::stream::SplitSink<Socket, Multipart>,
    flow: Arc<Flow>,
    shared: Arc<Shared>,
    mut rng: Rng,
) {
    let _active = SendingActor(&shared);
    while flow.open(&shared) {
        let result = if rng.chance(50) {
            sink.send(flow.make()).await
        } else {
            // feed, then flush: counted once flushed.
            match sink.feed(flow.make()).await {
                Ok(()) => sink.flush().await,
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(()) => flow.sent_one(),
            Err(e) => return shared.fail(format!("sink of {}: {e}", flow.name)),
        }
        if rng.chance(5) {
            tokio::time::sleep(rng.micros(200)).await;
        }
    }
}

/// The `Stream` half of a split socket: receives messages of `flow`,
/// sometimes racing a short timer, until told to stop.
async fn stream_task(
    mut stream: futures::stream::SplitStream<Socket>,
    flow: Arc<Flow>,
    shared: Arc<Shared>,
    timed_percent: u64,
    mut rng: Rng,
) {
    loop {
        let item = if rng.chance(timed_percent) {
            match tokio::time::timeout(rng.micros(500), stream.next()).await {
                Ok(item) => item,
                Err(_) => continue,
            }
        } else {
            tokio::select! {
                item = stream.next() => item,
                () = shared.stop_all.cancelled() => return,
            }
        };
        match item {
            Some(Ok(msg)) => {
                if let Err(e) = flow.record(&msg) {
                    return shared.fail(e);
                }
            }
            Some(Err(e)) => return shared.fail(format!("stream of {}: {e}", flow.name)),
            None => return shared.fail(format!("stream of {} ended", flow.name)),
        }
        if shared.stop_all.is_cancelled() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// Phases.
// ---------------------------------------------------------------------------

/// The watchdog's view of one flow.
struct Watch {
    last_sent: u64,
    last_received: u64,
    /// Since when nothing was received while something was waiting.
    recv_stuck_since: Option<Instant>,
    /// Since when nothing was sent while a message waited to go and the
    /// pipe was empty.
    send_stuck_since: Option<Instant>,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            last_sent: 0,
            last_received: 0,
            recv_stuck_since: None,
            send_stuck_since: None,
        }
    }

    /// One look at `flow`: an error when a side stood still for [`stall`]
    /// while what it waits for was there.
    fn check(&mut self, flow: &Flow, now: Instant) -> Result<(), String> {
        let made = flow.made.load(Ordering::SeqCst);
        let sent = flow.sent.load(Ordering::SeqCst);
        let received = flow.received.load(Ordering::SeqCst);
        // Receivers: messages sent and not received, and no receive.
        if received != self.last_received || sent <= received {
            self.recv_stuck_since = None;
        } else {
            let since = *self.recv_stuck_since.get_or_insert(now);
            if now - since > stall() {
                return Err(format!(
                    "{}: {sent} sent, {received} received, and no receive for {:?} \
                     while messages waited (a lost wakeup of a receiver)",
                    flow.name,
                    now - since
                ));
            }
        }
        // Senders: a message waits to go, everything sent is received (the
        // pipe is empty, so there is room), and no send.
        if sent != self.last_sent || made <= sent || received < sent {
            self.send_stuck_since = None;
        } else {
            let since = *self.send_stuck_since.get_or_insert(now);
            if now - since > stall() {
                return Err(format!(
                    "{}: {} messages wait to be sent, all {sent} sent are received, and no \
                     send for {:?} (a lost wakeup of a sender)",
                    flow.name,
                    made - sent,
                    now - since
                ));
            }
        }
        self.last_sent = sent;
        self.last_received = received;
        Ok(())
    }
}

/// The random shape of one phase.
#[derive(Debug)]
struct PhaseConfig {
    transport: Transport,
    hwm_a: i32,
    hwm_b: i32,
    /// Socket B is used only through the `Sink` and `Stream` halves of
    /// `split` (which need the socket by value), instead of being shared.
    b_split: bool,
    senders: [usize; 2],
    receivers: [usize; 2],
    threads: [usize; 2],
    mix: Mix,
    length: Duration,
}

impl PhaseConfig {
    fn random(rng: &mut Rng) -> PhaseConfig {
        // Half the phases have only waiters that never retry by
        // themselves (no timers, no `try_recv`, no polling sleeps) beside
        // calls that drain the mailbox: there, a lost wakeup cannot be
        // hidden by a retry, and shows as a stall.
        let plain = rng.chance(50);
        let mix = if plain {
            Mix {
                send: rng.subset(&[SendOp::Send, SendOp::TrySendWritable]),
                recv: rng.subset(&[RecvOp::Recv, RecvOp::ReadableTryRecv]),
                misc: rng.subset(&[
                    MiscOp::GetEvents,
                    MiscOp::FailingBind,
                    MiscOp::FailingUnbind,
                ]),
                misc_percent: rng.pick(&[5, 20, 50]),
                thread_try_recv: false,
                stream_timed_percent: 0,
            }
        } else {
            Mix {
                send: rng.subset(&SEND_OPS),
                recv: rng.subset(&RECV_OPS),
                misc: rng.subset(&MISC_OPS),
                misc_percent: rng.pick(&[0, 5, 20, 50]),
                thread_try_recv: rng.chance(50),
                stream_timed_percent: rng.pick(&[0, 30]),
            }
        };
        let threads = if plain {
            [1, 1]
        } else {
            [rng.below(2) as usize, rng.below(2) as usize]
        };
        PhaseConfig {
            transport: rng.pick(&[Transport::Inproc, Transport::Tcp]),
            hwm_a: rng.pick(&[1, 2, 10, 100]),
            hwm_b: rng.pick(&[1, 2, 10, 100]),
            b_split: rng.chance(25),
            senders: [1 + rng.below(2) as usize, 1 + rng.below(2) as usize],
            receivers: [1 + rng.below(2) as usize, 1 + rng.below(2) as usize],
            threads,
            mix,
            length: Duration::from_millis(200 + rng.below(300)),
        }
    }
}

static NEXT_NAME: AtomicUsize = AtomicUsize::new(0);

/// Joins a plain thread without blocking the runtime's thread for long.
async fn join_thread(handle: std::thread::JoinHandle<()>) {
    while !handle.is_finished() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    handle.join().expect("an actor thread panicked");
}

/// Runs one phase: a fresh socket pair, actors per `config`, for
/// `config.length`; then the senders stop and everything sent must come in.
async fn phase(label: &str, config: &PhaseConfig, rng: &mut Rng) {
    let ctx = Context::new();
    let a = ctx.socket(SocketType::Dealer).unwrap();
    let b = ctx.socket(SocketType::Dealer).unwrap();
    for (socket, hwm) in [(&a, config.hwm_a), (&b, config.hwm_b)] {
        socket.set(options::LINGER, 0).unwrap();
        socket.set(options::SNDHWM, hwm).unwrap();
        socket.set(options::RCVHWM, hwm).unwrap();
    }
    let endpoint = match config.transport {
        Transport::Tcp => a.bind("tcp://127.0.0.1:*").unwrap(),
        Transport::Inproc => a
            .bind(&format!(
                "inproc://interleave-{}",
                NEXT_NAME.fetch_add(1, Ordering::Relaxed)
            ))
            .unwrap(),
    };
    b.connect(&endpoint).unwrap();
    // The connection is up before the actors start: one message each way
    // (not counted in the flows).
    bounded(label, "the handshake", async {
        b.send("hello").await.unwrap();
        a.recv().await.unwrap();
        a.send("hello").await.unwrap();
        b.recv().await.unwrap();
    })
    .await;

    let shared = Arc::new(Shared {
        stop_sending: CancellationToken::new(),
        stop_all: CancellationToken::new(),
        failure: Mutex::new(None),
        endpoint,
        senders_active: AtomicUsize::new(0),
    });
    let a_to_b = Arc::new(Flow::new("A->B"));
    let b_to_a = Arc::new(Flow::new("B->A"));
    let mut tasks = Vec::new();
    let mut threads = Vec::new();

    let a = Arc::new(a);
    let mut sockets: Vec<(usize, Arc<Socket>)> = vec![(0, Arc::clone(&a))];
    if config.b_split {
        shared.senders_active.fetch_add(1, Ordering::SeqCst);
        let (sink, stream) = b.split();
        tasks.push(tokio::spawn(sink_task(
            sink,
            Arc::clone(&b_to_a),
            Arc::clone(&shared),
            rng.split(),
        )));
        tasks.push(tokio::spawn(stream_task(
            stream,
            Arc::clone(&a_to_b),
            Arc::clone(&shared),
            config.mix.stream_timed_percent,
            rng.split(),
        )));
    } else {
        sockets.push((1, Arc::new(b)));
    }
    for (side, socket) in &sockets {
        let (out, inn) = if *side == 0 {
            (&a_to_b, &b_to_a)
        } else {
            (&b_to_a, &a_to_b)
        };
        for _ in 0..config.senders[*side] {
            shared.senders_active.fetch_add(1, Ordering::SeqCst);
            tasks.push(tokio::spawn(sender_task(
                Arc::clone(socket),
                Arc::clone(out),
                Arc::clone(&shared),
                config.mix.clone(),
                rng.split(),
            )));
        }
        for _ in 0..config.receivers[*side] {
            tasks.push(tokio::spawn(receiver_task(
                Arc::clone(socket),
                Arc::clone(inn),
                Arc::clone(&shared),
                config.mix.clone(),
                rng.split(),
            )));
        }
        for _ in 0..config.threads[*side] {
            shared.senders_active.fetch_add(1, Ordering::SeqCst);
            threads.push(thread_actor(
                Arc::clone(socket),
                Arc::clone(out),
                Arc::clone(inn),
                Arc::clone(&shared),
                config.mix.clone(),
                rng.split(),
            ));
        }
    }
    drop(sockets);
    drop(a);

    // Run, watching; then stop the senders and watch the rest come in.
    let start = Instant::now();
    let mut watches = [Watch::new(), Watch::new()];
    let mut drain_start = None;
    loop {
        let now = Instant::now();
        for (watch, flow) in watches.iter_mut().zip([&a_to_b, &b_to_a]) {
            if let Err(e) = watch.check(flow, now) {
                shared.fail(e);
            }
        }
        if let Some(failure) = shared.failure() {
            panic!("{label}: {failure}\n  config: {config:?}");
        }
        if drain_start.is_none() && now - start >= config.length {
            shared.stop_sending.cancel();
            drain_start = Some(now);
        }
        if let Some(drain_start) = drain_start {
            let senders_done = shared.senders_active.load(Ordering::SeqCst) == 0;
            let all_in = senders_done
                && [&a_to_b, &b_to_a].iter().all(|flow| {
                    let made = flow.made.load(Ordering::SeqCst);
                    flow.sent.load(Ordering::SeqCst) == made
                        && flow.received.load(Ordering::SeqCst) == made
                });
            if all_in {
                break;
            }
            assert!(
                now - drain_start < DRAIN_BOUND,
                "{label}: not drained after {DRAIN_BOUND:?}: A->B {:?}, B->A {:?}\n  config: {config:?}",
                counts(&a_to_b),
                counts(&b_to_a),
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shared.stop_all.cancel();
    bounded(label, "stopping the actors", async {
        for task in tasks {
            task.await.expect("an actor task panicked");
        }
        for thread in threads {
            join_thread(thread).await;
        }
    })
    .await;
    if let Some(failure) = shared.failure() {
        panic!("{label}: {failure}\n  config: {config:?}");
    }
    for flow in [&a_to_b, &b_to_a] {
        if let Err(e) = flow.check_complete() {
            panic!("{label}: {e}\n  config: {config:?}");
        }
    }
    eprintln!(
        "{label}: {:?}, A->B {} and B->A {} messages, each once, in {:?}",
        config.transport,
        a_to_b.made.load(Ordering::SeqCst),
        b_to_a.made.load(Ordering::SeqCst),
        start.elapsed()
    );
}

fn counts(flow: &Flow) -> (u64, u64, u64) {
    (
        flow.made.load(Ordering::SeqCst),
        flow.sent.load(Ordering::SeqCst),
        flow.received.load(Ordering::SeqCst),
    )
}

/// [`support::bounded`], named by the phase's label and what it waits for.
async fn bounded<T>(label: &str, what: &str, fut: impl Future<Output = T>) -> T {
    support::bounded(&format!("{label}: {what}"), support::TEST_LIMIT, fut).await
}

/// Phases until `secs` have passed (at least one).
async fn interleave(flavour: &str, salt: u64) {
    let (seed, secs) = seed_and_secs();
    eprintln!("seed = {seed} ({flavour}; replay with ZMQ_TOKIO_INTERLEAVE_SEED={seed}), {secs} s");
    let mut rng = Rng::new(seed ^ salt);
    let start = Instant::now();
    let mut n = 0;
    while n == 0 || start.elapsed() < Duration::from_secs(secs) {
        let config = PhaseConfig::random(&mut rng);
        let label = format!("seed {seed}, {flavour}, phase {n}");
        phase(&label, &config, &mut rng).await;
        n += 1;
    }
    eprintln!(
        "{flavour}: {n} phases in {:?}, seed {seed}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn interleave_current_thread() {
    interleave("current_thread", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleave_multi_thread() {
    interleave("multi_thread", 2).await;
}
