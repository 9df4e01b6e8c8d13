//! `SocketStream` and `SocketSink` (SPEC §1): `Stream` and `Sink` over an
//! `Arc<Socket>` that other tasks and threads use at the same time. Every
//! test pushes numbered messages through a socket shared by a stream or a
//! sink and other callers, and asserts that each message is delivered
//! exactly once, with a watchdog that turns a stall (a lost wakeup) into a
//! failure naming the case.

use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use zmq_tokio::{
    options, Context, Error, Multipart, Socket, SocketSink, SocketStream, SocketType, TrySendError,
};

#[macro_use]
mod support;
use support::{flavour, fresh_endpoint, Transport};

/// How long the messages may stand still before the test calls it a lost
/// wakeup (generous: on a good build they move every few milliseconds).
const STALL: Duration = Duration::from_secs(2);

/// The bound on any one case.
const CASE_BOUND: Duration = Duration::from_secs(30);

/// A socket of `kind` with both high-water marks at `hwm`.
fn socket(ctx: &Context, kind: SocketType, hwm: i32) -> Socket {
    let socket = ctx.socket(kind).unwrap();
    socket.set(options::LINGER, 0).unwrap();
    socket.set(options::SNDHWM, hwm).unwrap();
    socket.set(options::RCVHWM, hwm).unwrap();
    socket
}

/// [`support::bounded`] within [`CASE_BOUND`], naming the runtime flavour.
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    support::bounded(&format!("{what} ({})", flavour()), CASE_BOUND, fut).await
}

/// The numbered messages of one flow: which were received, how often.
#[derive(Debug)]
struct Seen {
    name: &'static str,
    received: AtomicU64,
    counts: Mutex<Vec<u8>>,
}

impl Seen {
    fn new(name: &'static str) -> Arc<Seen> {
        Arc::new(Seen {
            name,
            received: AtomicU64::new(0),
            counts: Mutex::new(Vec::new()),
        })
    }

    fn message(&self, n: u64) -> Multipart {
        Multipart::from(vec![
            self.name.as_bytes().to_vec(),
            n.to_le_bytes().to_vec(),
        ])
    }

    /// Records one received message (panics on a stranger or a duplicate).
    fn record(&self, msg: &Multipart) {
        assert_eq!(msg.len(), 2, "{}: frames {msg:?}", self.name);
        assert_eq!(
            &msg[0][..],
            self.name.as_bytes(),
            "{}: not ours: {msg:?}",
            self.name
        );
        let n = u64::from_le_bytes(msg[1][..].try_into().expect("8-byte number")) as usize;
        let mut counts = self.counts.lock().unwrap();
        if counts.len() <= n {
            counts.resize(n + 1, 0);
        }
        counts[n] += 1;
        assert_eq!(counts[n], 1, "{}: message {n} received twice", self.name);
        self.received.fetch_add(1, Ordering::SeqCst);
    }

    /// Every number below `total` received exactly once, and nothing else.
    fn assert_complete(&self, total: u64) {
        let counts = self.counts.lock().unwrap();
        let missing: Vec<usize> = (0..total as usize)
            .filter(|&n| counts.get(n) != Some(&1))
            .collect();
        assert!(
            missing.is_empty() && counts.len() <= total as usize,
            "{}: of {total}, not received exactly once: {:?} (and {} slots)",
            self.name,
            &missing[..missing.len().min(20)],
            counts.len()
        );
    }
}

/// Waits until each flow has received its `total`, failing when none of
/// them moves for [`STALL`].
async fn watch(what: &str, flows: &[(&Seen, u64)]) {
    let total: u64 = flows.iter().map(|(_, total)| total).sum();
    let sum = || -> u64 {
        flows
            .iter()
            .map(|(seen, _)| seen.received.load(Ordering::SeqCst))
            .sum()
    };
    support::watch_progress(what, total, STALL, CASE_BOUND, sum).await
}

#[test]
fn stream_and_sink_are_unpin_send_debug() {
    fn unpin_send_debug<T: Unpin + Send + Debug>() {}
    fn stream<T: Stream<Item = zmq_tokio::Result<Multipart>>>() {}
    fn sink<T: Sink<Multipart, Error = Error>>() {}
    unpin_send_debug::<SocketStream>();
    unpin_send_debug::<SocketSink>();
    stream::<SocketStream>();
    sink::<SocketSink>();
}

/// A task that sends `flow`'s numbers `from..to` on `socket` with `send`.
fn spawn_sender(
    socket: Arc<Socket>,
    flow: Arc<Seen>,
    numbers: impl Iterator<Item = u64> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for n in numbers {
            socket.send(flow.message(n)).await.unwrap();
        }
    })
}

/// A task that receives `flow`'s messages from `socket` with `recv` until
/// `stop`; returns how many it got.
fn spawn_receiver(
    socket: Arc<Socket>,
    flow: Arc<Seen>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut got = 0;
        loop {
            tokio::select! {
                msg = socket.recv() => {
                    flow.record(&msg.unwrap());
                    got += 1;
                }
                () = stop.cancelled() => return got,
            }
        }
    })
}

/// A task that takes `flow`'s messages from a [`SocketStream`] until
/// `stop`; returns how many it got.
fn spawn_stream_reader(
    mut stream: impl Stream<Item = zmq_tokio::Result<Multipart>> + Unpin + Send + 'static,
    flow: Arc<Seen>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut got = 0;
        loop {
            tokio::select! {
                item = stream.next() => {
                    flow.record(&item.expect("the stream ended").unwrap());
                    got += 1;
                }
                () = stop.cancelled() => return got,
            }
        }
    })
}

/// A thread that keeps calling into `socket` without sending or receiving
/// (`get(EVENTS)`, a failing `unbind`) until `stop`. Each call processes
/// the socket's commands, which drains the edge a waiter may need: the
/// caller must wake the waiters (issue #12).
fn spawn_drainer(socket: Arc<Socket>, stop: CancellationToken) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut i = 0u64;
        while !stop.is_cancelled() {
            if i % 2 == 0 {
                socket.get(options::EVENTS).unwrap();
            } else {
                socket
                    .unbind("inproc://shared-stream-never-bound")
                    .unwrap_err();
            }
            i += 1;
            if i % 16 == 0 {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    })
}

/// A `SocketStream` of a PULL socket beside a `recv` task, a
/// `readable` + `try_recv` task and a thread polling `try_recv`, all on the
/// same `Arc<Socket>`: every message once, and the stream gets its share.
async fn stream_beside_receivers(transport: Transport, total: u64) {
    let what = format!("SocketStream beside recv, readable and try_recv over {transport:?}");
    let ctx = Context::new();
    let pull = Arc::new(socket(&ctx, SocketType::Pull, 10));
    let endpoint = pull
        .bind(&fresh_endpoint(transport, "shared-stream"))
        .unwrap();
    let push = Arc::new(socket(&ctx, SocketType::Push, 10));
    push.connect(&endpoint).unwrap();
    let flow = Seen::new("push->pull");
    let stop = CancellationToken::new();
    let _stop_on_drop = stop.clone().drop_guard();

    let stream = spawn_stream_reader(
        SocketStream::new(Arc::clone(&pull)),
        Arc::clone(&flow),
        stop.clone(),
    );
    let receiver = spawn_receiver(Arc::clone(&pull), Arc::clone(&flow), stop.clone());
    let readable = {
        let pull = Arc::clone(&pull);
        let flow = Arc::clone(&flow);
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    ready = pull.readable() => ready.unwrap(),
                    () = stop.cancelled() => return,
                }
                if let Some(msg) = pull.try_recv().unwrap() {
                    flow.record(&msg);
                }
            }
        })
    };
    let poller = {
        let pull = Arc::clone(&pull);
        let flow = Arc::clone(&flow);
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.is_cancelled() {
                if let Some(msg) = pull.try_recv().unwrap() {
                    flow.record(&msg);
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        })
    };
    let drainer = spawn_drainer(Arc::clone(&pull), stop.clone());
    let sender = spawn_sender(Arc::clone(&push), Arc::clone(&flow), 0..total);

    watch(&what, &[(&flow, total)]).await;
    stop.cancel();
    bounded(&what, async {
        sender.await.unwrap();
        let by_stream = stream.await.unwrap();
        assert!(by_stream > 0, "{what}: the stream got none of {total}");
        receiver.await.unwrap();
        readable.await.unwrap();
    })
    .await;
    poller.join().unwrap();
    drainer.join().unwrap();
    flow.assert_complete(total);
}

/// A `SocketSink` on a PUSH socket beside a `send` task and a `try_send` +
/// `writable` task and a draining thread on the same `Arc<Socket>`
/// (`SNDHWM` 5, so all three senders wait for room): every message once,
/// each sender's in order.
async fn sink_beside_senders(transport: Transport, per_sender: u64) {
    let what = format!("SocketSink beside send and try_send/writable over {transport:?}");
    let ctx = Context::new();
    let pull = socket(&ctx, SocketType::Pull, 5);
    let endpoint = pull
        .bind(&fresh_endpoint(transport, "shared-stream"))
        .unwrap();
    let push = Arc::new(socket(&ctx, SocketType::Push, 5));
    push.connect(&endpoint).unwrap();
    let flow = Seen::new("push->pull");
    let total = 3 * per_sender;
    let stop = CancellationToken::new();
    let _stop_on_drop = stop.clone().drop_guard();
    let drainer = spawn_drainer(Arc::clone(&push), stop.clone());

    // Sender k sends the numbers n with n % 3 == k, in increasing order.
    let sink = {
        let mut sink = SocketSink::new(Arc::clone(&push));
        let flow = Arc::clone(&flow);
        tokio::spawn(async move {
            for i in 0..per_sender {
                let msg = flow.message(3 * i);
                if i % 2 == 0 {
                    sink.send(msg).await.unwrap();
                } else {
                    sink.feed(msg).await.unwrap();
                }
            }
            sink.flush().await.unwrap();
            sink.close().await.unwrap();
        })
    };
    let sender = spawn_sender(
        Arc::clone(&push),
        Arc::clone(&flow),
        (0..per_sender).map(|i| 3 * i + 1),
    );
    let trier = {
        let push = Arc::clone(&push);
        let flow = Arc::clone(&flow);
        tokio::spawn(async move {
            for i in 0..per_sender {
                let mut msg = flow.message(3 * i + 2);
                loop {
                    match push.try_send(msg) {
                        Ok(()) => break,
                        Err(TrySendError::Full(back)) => {
                            msg = back;
                            push.writable().await.unwrap();
                        }
                        Err(e) => panic!("try_send: {e}"),
                    }
                }
            }
        })
    };
    let reader = {
        let flow = Arc::clone(&flow);
        tokio::spawn(async move {
            let mut last = [None::<u64>; 3];
            for _ in 0..total {
                let msg = pull.recv().await.unwrap();
                flow.record(&msg);
                let n = u64::from_le_bytes(msg[1][..].try_into().unwrap());
                let k = (n % 3) as usize;
                assert!(
                    last[k].is_none_or(|last| last < n),
                    "sender {k}: {n} after {last:?}"
                );
                last[k] = Some(n);
            }
        })
    };

    watch(&what, &[(&flow, total)]).await;
    bounded(&what, async {
        sink.await.unwrap();
        sender.await.unwrap();
        trier.await.unwrap();
        reader.await.unwrap();
    })
    .await;
    stop.cancel();
    drainer.join().unwrap();
    flow.assert_complete(total);
}

/// A `SocketSink` and a `SocketStream` on one DEALER, beside a task that
/// sends with `send` and one that receives with `recv` on the same
/// `Arc<Socket>`; an echo peer returns every message. Every number comes
/// back once.
async fn sink_and_stream_on_one_socket(transport: Transport, per_sender: u64) {
    let what = format!("SocketSink + SocketStream + send + recv on one DEALER over {transport:?}");
    let ctx = Context::new();
    let echo = socket(&ctx, SocketType::Dealer, 10);
    let endpoint = echo
        .bind(&fresh_endpoint(transport, "shared-stream"))
        .unwrap();
    let client = Arc::new(socket(&ctx, SocketType::Dealer, 10));
    client.connect(&endpoint).unwrap();
    let flow = Seen::new("client->echo->client");
    let total = 2 * per_sender;
    let stop = CancellationToken::new();
    let _stop_on_drop = stop.clone().drop_guard();

    let echo_task = tokio::spawn(async move {
        for _ in 0..total {
            let msg = echo.recv().await.unwrap();
            echo.send(msg).await.unwrap();
        }
    });
    let sink = {
        let mut sink = SocketSink::new(Arc::clone(&client));
        let flow = Arc::clone(&flow);
        tokio::spawn(async move {
            for i in 0..per_sender {
                sink.send(flow.message(2 * i)).await.unwrap();
            }
        })
    };
    let sender = spawn_sender(
        Arc::clone(&client),
        Arc::clone(&flow),
        (0..per_sender).map(|i| 2 * i + 1),
    );
    let stream = spawn_stream_reader(
        SocketStream::new(Arc::clone(&client)),
        Arc::clone(&flow),
        stop.clone(),
    );
    let receiver = spawn_receiver(Arc::clone(&client), Arc::clone(&flow), stop.clone());
    let drainer = spawn_drainer(Arc::clone(&client), stop.clone());

    watch(&what, &[(&flow, total)]).await;
    stop.cancel();
    bounded(&what, async {
        sink.await.unwrap();
        sender.await.unwrap();
        echo_task.await.unwrap();
        let by_stream = stream.await.unwrap();
        let by_recv = receiver.await.unwrap();
        assert_eq!(by_stream + by_recv, total);
    })
    .await;
    drainer.join().unwrap();
    flow.assert_complete(total);
}

/// `select_all` over the `SocketStream`s of two PULL sockets (one inproc,
/// one tcp) while other tasks also `recv` from each socket and feed them:
/// every message of each once.
async fn select_all_over_shared_sockets(total: u64) {
    let what = "select_all over two shared sockets beside recv tasks";
    let ctx = Context::new();
    let mut pulls = Vec::new();
    let mut flows = Vec::new();
    let mut senders = Vec::new();
    for (transport, name) in [(Transport::Inproc, "inproc"), (Transport::Tcp, "tcp")] {
        let pull = Arc::new(socket(&ctx, SocketType::Pull, 10));
        let endpoint = pull
            .bind(&fresh_endpoint(transport, "shared-stream"))
            .unwrap();
        let push = Arc::new(socket(&ctx, SocketType::Push, 10));
        push.connect(&endpoint).unwrap();
        let flow = Seen::new(name);
        senders.push(spawn_sender(push, Arc::clone(&flow), 0..total));
        pulls.push(pull);
        flows.push(flow);
    }
    let stop = CancellationToken::new();
    let _stop_on_drop = stop.clone().drop_guard();

    // One task reads both through select_all: each item says its socket by
    // its first frame.
    let merged = {
        let mut all = futures::stream::select_all(
            pulls.iter().map(|pull| SocketStream::new(Arc::clone(pull))),
        );
        let flows = flows.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut got = 0u64;
            loop {
                tokio::select! {
                    item = all.next() => {
                        let msg = item.expect("select_all ended").unwrap();
                        let flow = flows
                            .iter()
                            .find(|flow| msg[0][..] == *flow.name.as_bytes())
                            .expect("a message of neither flow");
                        flow.record(&msg);
                        got += 1;
                    }
                    () = stop.cancelled() => return got,
                }
            }
        })
    };
    let receivers: Vec<_> = pulls
        .iter()
        .zip(&flows)
        .map(|(pull, flow)| spawn_receiver(Arc::clone(pull), Arc::clone(flow), stop.clone()))
        .collect();
    let drainers: Vec<_> = pulls
        .iter()
        .map(|pull| spawn_drainer(Arc::clone(pull), stop.clone()))
        .collect();

    watch(what, &[(&flows[0], total), (&flows[1], total)]).await;
    stop.cancel();
    bounded(what, async {
        for sender in senders {
            sender.await.unwrap();
        }
        let by_select = merged.await.unwrap();
        assert!(by_select > 0, "{what}: select_all got none");
        for receiver in receivers {
            receiver.await.unwrap();
        }
    })
    .await;
    for drainer in drainers {
        drainer.join().unwrap();
    }
    for flow in &flows {
        flow.assert_complete(total);
    }
}

/// `SocketStream` and `SocketSink` of the same socket, each in its own task,
/// as the halves of `split` are: a stream of requests that a sink answers,
/// on a ROUTER shared with a task that also answers with `send` and a
/// draining thread.
async fn router_stream_answered_by_sink(transport: Transport, total: u64) {
    let what = format!("ROUTER stream answered through a SocketSink and send over {transport:?}");
    let ctx = Context::new();
    let router = Arc::new(socket(&ctx, SocketType::Router, 100));
    router.set(options::ROUTER_MANDATORY, true).unwrap();
    let endpoint = router
        .bind(&fresh_endpoint(transport, "shared-stream"))
        .unwrap();
    let client = Arc::new(socket(&ctx, SocketType::Dealer, 100));
    client.connect(&endpoint).unwrap();
    let flow = Seen::new("request->reply");
    let stop = CancellationToken::new();
    let _stop_on_drop = stop.clone().drop_guard();

    // The server: requests from the stream; even numbers answered through
    // the sink, odd ones through `send`, from another task.
    let (odd_tx, mut odd_rx) = tokio::sync::mpsc::channel::<Multipart>(16);
    let server = {
        let mut requests = SocketStream::new(Arc::clone(&router));
        let mut replies = SocketSink::new(Arc::clone(&router));
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let request = tokio::select! {
                    item = requests.next() => item.expect("stream ended").unwrap(),
                    () = stop.cancelled() => return,
                };
                // [identity, name, number]
                let n = u64::from_le_bytes(request[2][..].try_into().unwrap());
                if n % 2 == 0 {
                    replies.send(request).await.unwrap();
                } else if odd_tx.send(request).await.is_err() {
                    return;
                }
            }
        })
    };
    let odd_server = {
        let router = Arc::clone(&router);
        tokio::spawn(async move {
            while let Some(request) = odd_rx.recv().await {
                router.send(request).await.unwrap();
            }
        })
    };
    let sender = spawn_sender(Arc::clone(&client), Arc::clone(&flow), 0..total);
    let receiver = spawn_receiver(Arc::clone(&client), Arc::clone(&flow), stop.clone());
    let drainer = spawn_drainer(Arc::clone(&router), stop.clone());

    watch(&what, &[(&flow, total)]).await;
    stop.cancel();
    bounded(&what, async {
        sender.await.unwrap();
        assert_eq!(receiver.await.unwrap(), total);
        server.await.unwrap();
        odd_server.await.unwrap();
    })
    .await;
    drainer.join().unwrap();
    flow.assert_complete(total);
}

on_both_runtimes! {
    stream_beside_receivers_inproc => stream_beside_receivers(Transport::Inproc, 20_000);
    stream_beside_receivers_tcp => stream_beside_receivers(Transport::Tcp, 20_000);
    sink_beside_senders_inproc => sink_beside_senders(Transport::Inproc, 10_000);
    sink_beside_senders_tcp => sink_beside_senders(Transport::Tcp, 10_000);
    sink_and_stream_on_one_socket_inproc => sink_and_stream_on_one_socket(Transport::Inproc, 10_000);
    sink_and_stream_on_one_socket_tcp => sink_and_stream_on_one_socket(Transport::Tcp, 10_000);
    select_all_over_two_shared_sockets => select_all_over_shared_sockets(10_000);
    router_stream_answered_by_sink_inproc => router_stream_answered_by_sink(Transport::Inproc, 10_000);
    router_stream_answered_by_sink_tcp => router_stream_answered_by_sink(Transport::Tcp, 10_000);
}
