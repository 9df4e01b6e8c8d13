//! The classic ZeroMQ patterns, end to end over real libzmq sockets.
//!
//! Every pattern that does not depend on TCP runs over tcp, ipc and inproc:
//! `per_transport!` turns one `async fn pattern(Transport) -> TestResult`
//! into a module `pattern` with the tests `tcp`, `ipc` and `inproc`. Each
//! test binds to a fresh endpoint (a `tcp://127.0.0.1:*` wildcard, a unique
//! ipc path in the temp dir, a unique inproc name) and connects to the
//! endpoint `bind` returned. Every test body runs under a timeout, so a hang
//! fails fast instead of blocking the suite.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, Instant};
use zmq_tokio::{options, Error, Message, Multipart, Socket, SocketType};

mod support;
use support::bounded;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// How long any one test may take before it counts as hung.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Transport {
    Tcp,
    /// ipc, with the directory (of this test) the socket files go in.
    Ipc(PathBuf),
    Inproc,
}

/// A fresh directory for one test's ipc socket files, removed when the test
/// ends. (libzmq unlinks a socket file when it closes the listener, but on
/// its reaper thread, which a test process may not wait for.)
struct IpcDir(PathBuf);

impl IpcDir {
    fn new() -> IpcDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("zmq-tokio-patterns-{}-{n}", std::process::id()));
        // A leftover of an earlier run with the same pid would be in the way.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a directory for ipc sockets");
        IpcDir(dir)
    }
}

impl Drop for IpcDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh endpoint to bind to on `transport`. Bind with it, then connect
/// to what `bind` returned (for tcp, the port libzmq chose).
fn bind_endpoint(transport: &Transport, tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    match transport {
        Transport::Tcp => "tcp://127.0.0.1:*".to_owned(),
        Transport::Ipc(dir) => format!("ipc://{}", dir.join(format!("{n}-{tag}.ipc")).display()),
        Transport::Inproc => format!("inproc://patterns-{}-{n}-{tag}", std::process::id()),
    }
}

/// A socket bound to a fresh endpoint of `transport`, and that endpoint as
/// `bind` returned it.
fn bound(
    kind: SocketType,
    transport: &Transport,
    tag: &str,
) -> zmq_tokio::Result<(Socket, String)> {
    let socket = Socket::new(kind)?;
    let endpoint = socket.bind(&bind_endpoint(transport, tag))?;
    match transport {
        Transport::Tcp => assert!(
            endpoint.starts_with("tcp://127.0.0.1:") && !endpoint.ends_with(":*"),
            "bind should return the resolved tcp endpoint, got {endpoint:?}"
        ),
        Transport::Ipc(_) => assert!(endpoint.starts_with("ipc://"), "{endpoint:?}"),
        Transport::Inproc => assert!(endpoint.starts_with("inproc://"), "{endpoint:?}"),
    }
    Ok((socket, endpoint))
}

/// A socket connected to `endpoint`.
fn connected(kind: SocketType, endpoint: &str) -> zmq_tokio::Result<Socket> {
    let socket = Socket::new(kind)?;
    socket.connect(endpoint)?;
    Ok(socket)
}

/// The frames of a message as text (lossy), for readable assertions.
fn texts(msg: &Multipart) -> Vec<String> {
    msg.iter()
        .map(|frame| String::from_utf8_lossy(frame).into_owned())
        .collect()
}

/// The text of a single-frame message.
fn text(msg: &Multipart) -> String {
    assert_eq!(msg.len(), 1, "expected a single-frame message, got {msg:?}");
    String::from_utf8_lossy(&msg[0]).into_owned()
}

/// Receives a message if one arrives within `wait` (`recv` is cancel safe,
/// so a timeout takes nothing from the socket).
async fn recv_within(socket: &Socket, wait: Duration) -> zmq_tokio::Result<Option<Multipart>> {
    match timeout(wait, socket.recv()).await {
        Ok(msg) => msg.map(Some),
        Err(_) => Ok(None),
    }
}

/// One module per pattern with a test per transport.
macro_rules! per_transport {
    ($(#[$attr:meta])* $name:ident) => {
        mod $name {
            use super::*;

            $(#[$attr])*
            async fn tcp() {
                { let what = concat!(stringify!($name), " over tcp"); bounded(what, TEST_TIMEOUT, super::$name(Transport::Tcp)).await.unwrap_or_else(|e| panic!("{what} failed: {e}")) }
            }

            $(#[$attr])*
            async fn ipc() {
                assert!(zmq_tokio::has("ipc"), "this libzmq has no ipc transport");
                let dir = IpcDir::new();
                { let what = concat!(stringify!($name), " over ipc"); bounded(what, TEST_TIMEOUT, super::$name(Transport::Ipc(dir.0.clone()))).await.unwrap_or_else(|e| panic!("{what} failed: {e}")) }
            }

            $(#[$attr])*
            async fn inproc() {
                { let what = concat!(stringify!($name), " over inproc"); bounded(what, TEST_TIMEOUT, super::$name(Transport::Inproc)).await.unwrap_or_else(|e| panic!("{what} failed: {e}")) }
            }
        }
    };
}

// ---------------------------------------------------------------------------
// 1. REQ/REP
// ---------------------------------------------------------------------------

per_transport!(
    #[tokio::test]
    req_rep
);

async fn req_rep(transport: Transport) -> TestResult {
    const ROUNDS: u64 = 20;
    let (rep, endpoint) = bound(SocketType::Rep, &transport, "req-rep")?;
    let req = connected(SocketType::Req, &endpoint)?;

    let server = tokio::spawn(async move {
        for _ in 0..ROUNDS {
            let request = rep.recv_string().await?;
            let n: u64 = request
                .strip_prefix("square ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected request {request:?}"));
            rep.send(format!("{n}^2 = {}", n * n)).await?;
        }
        // A multipart request: REP strips REQ's envelope and hands over the
        // frames intact; the echoed reply goes back whole.
        let request = rep.recv().await?;
        assert_eq!(texts(&request), ["multi", "", "part"]);
        rep.send(request).await?;
        Ok::<_, Error>(rep)
    });

    for n in 0..ROUNDS {
        req.send(format!("square {n}")).await?;
        assert_eq!(req.recv_string().await?, format!("{n}^2 = {}", n * n));
    }
    req.send(["multi", "", "part"]).await?;
    assert_eq!(texts(&req.recv().await?), ["multi", "", "part"]);

    // Out of turn: a REQ that has its reply cannot receive again. libzmq
    // says EFSM at once; it must not wait forever.
    let err = req
        .recv()
        .await
        .expect_err("REQ recv out of turn must fail");
    assert_eq!(err.errno(), Some(zmq::Error::EFSM.to_raw()), "{err}");

    let _rep = server.await??;
    Ok(())
}

// ---------------------------------------------------------------------------
// 2. PUB/SUB with prefix filters
// ---------------------------------------------------------------------------

per_transport!(
    #[tokio::test]
    pub_sub
);

/// The prefix of the publisher's sync probes.
const SYNC_PREFIX: &str = "sync/";
const SYNC_PROBE: &str = "sync/hello";

/// Waits until the publisher knows every subscriber's subscriptions.
///
/// PUB/SUB has the slow-joiner problem: a subscription reaches the
/// publisher asynchronously (after the connection is up and the SUB's
/// subscription message has been read by the PUB), and PUB silently drops
/// whatever it publishes before that. Sleeping "long enough" is a guess, so
/// instead the publisher sends a `sync/hello` probe again and again (bounded
/// by a deadline) until every subscriber has received one. Each subscriber
/// subscribes to `sync/` *after* its data prefix, on the same pipe, and the
/// publisher reads a pipe's subscriptions in order (on a reconnect they are
/// resent in sorted order, and `sync/` sorts after every data prefix here);
/// so a probe that arrived proves the data subscription is in place too.
async fn sync_subscribers(publisher: &Socket, subscribers: &[&Socket]) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut synced = vec![false; subscribers.len()];
    while synced.contains(&false) {
        assert!(
            Instant::now() < deadline,
            "subscribers never received the sync probe: synced = {synced:?}"
        );
        publisher.send(SYNC_PROBE).await?;
        for (sub, synced) in subscribers.iter().zip(&mut synced) {
            if *synced {
                continue;
            }
            if let Some(msg) = recv_within(sub, Duration::from_millis(10)).await? {
                assert_eq!(text(&msg), SYNC_PROBE);
                *synced = true;
            }
        }
    }
    Ok(())
}

/// Receives until `last` (inclusive), skipping the sync probes left over
/// from [`sync_subscribers`], which can only come before any data.
async fn collect_until(sub: &Socket, last: &str) -> zmq_tokio::Result<Vec<String>> {
    let mut got = Vec::new();
    loop {
        let msg = text(&sub.recv().await?);
        if msg.starts_with(SYNC_PREFIX) {
            assert!(got.is_empty(), "sync probe {msg:?} after data {got:?}");
            continue;
        }
        let done = msg == last;
        got.push(msg);
        if done {
            return Ok(got);
        }
    }
}

async fn pub_sub(transport: Transport) -> TestResult {
    let (publisher, endpoint) = bound(SocketType::Pub, &transport, "pub-sub")?;
    let subscriber = |prefix: &str| -> zmq_tokio::Result<Socket> {
        let sub = connected(SocketType::Sub, &endpoint)?;
        sub.subscribe(prefix)?;
        sub.subscribe(SYNC_PREFIX)?;
        Ok(sub)
    };
    let sub_a = subscriber("a.")?;
    let sub_b = subscriber("b.")?;
    let sub_all = subscriber("")?;

    sync_subscribers(&publisher, &[&sub_a, &sub_b, &sub_all]).await?;

    let mut sent = Vec::new();
    for i in 0..30 {
        for prefix in ["a.", "b.", "c."] {
            sent.push(format!("{prefix}{i}"));
        }
    }
    // End markers, so that each subscriber knows when it has everything; a
    // message leaking through a filter would show up before its marker.
    sent.extend(["a.end", "b.end", "c.end"].map(String::from));
    for msg in &sent {
        publisher.send(msg.as_str()).await?;
    }

    for (sub, prefix, last) in [
        (&sub_a, "a.", "a.end"),
        (&sub_b, "b.", "b.end"),
        (&sub_all, "", "c.end"),
    ] {
        let expected: Vec<String> = sent
            .iter()
            .filter(|msg| msg.starts_with(prefix))
            .cloned()
            .collect();
        let got = collect_until(sub, last).await?;
        assert_eq!(got, expected, "subscriber with prefix {prefix:?}");
    }
    // The empty prefix matches everything, and overlapping subscriptions
    // ("" and "sync/") still deliver each message once: nothing is left.
    assert!(sub_all.try_recv()?.is_none());
    Ok(())
}

// ---------------------------------------------------------------------------
// 3. PUSH/PULL fan-out
// ---------------------------------------------------------------------------

per_transport!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    push_pull_fan_out
);

async fn push_pull_fan_out(transport: Transport) -> TestResult {
    const WORKERS: usize = 4;
    const TASKS: u32 = 3000;

    let (push, task_endpoint) = bound(SocketType::Push, &transport, "fan-out")?;
    let (sink, sink_endpoint) = bound(SocketType::Pull, &transport, "fan-in")?;

    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let pull = Arc::new(connected(SocketType::Pull, &task_endpoint)?);
        let report = connected(SocketType::Push, &sink_endpoint)?;
        let id = worker.to_string();
        let task_pull = Arc::clone(&pull);
        let handle = tokio::spawn(async move {
            let mut warmed_up = false;
            let mut done = 0u32;
            loop {
                let msg = match task_pull.recv().await {
                    Ok(msg) => msg,
                    // The coordinator closes our PULL socket when it is done.
                    Err(Error::Closed) => return Ok::<_, Error>(done),
                    Err(e) => return Err(e),
                };
                match msg[0].as_str() {
                    Some("warmup") if !warmed_up => {
                        warmed_up = true;
                        report.send(["warm", id.as_str()]).await?;
                    }
                    Some("warmup") => {}
                    Some("task") => {
                        assert_eq!(msg.len(), 2, "{msg:?}");
                        report
                            .send([
                                Message::from("done"),
                                Message::from(id.as_str()),
                                msg[1].clone(),
                            ])
                            .await?;
                        done += 1;
                    }
                    _ => panic!("worker {id}: unexpected message {msg:?}"),
                }
            }
        });
        workers.push((pull, handle));
    }

    // PUSH load-balances only among the peers whose pipes are attached to
    // it, and a worker's `connect` returns before the tcp/ipc handshake is
    // done. A "ready" sent by the worker over another socket would not prove
    // that the PUSH side has attached its pipe; only a message that came
    // through the PUSH does. So the coordinator sends "warmup" messages
    // (paced, until a deadline) until every worker has reported, over the
    // sink, that it received one. From then on all workers are in the
    // PUSH's round robin, and the real tasks are spread over all of them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut warm = HashSet::new();
    while warm.len() < WORKERS {
        assert!(Instant::now() < deadline, "only workers {warm:?} warmed up");
        push.send("warmup").await?;
        while let Some(report) = recv_within(&sink, Duration::from_millis(5)).await? {
            assert_eq!(report.len(), 2, "{report:?}");
            assert_eq!(report[0], "warm");
            assert!(warm.insert(text(&Multipart::from(report[1].clone()))));
        }
    }

    let sender = tokio::spawn(async move {
        for task in 0..TASKS {
            push.send([&b"task"[..], &task.to_le_bytes()]).await?;
        }
        Ok::<_, Error>(push)
    });

    let mut delivered = vec![0u32; TASKS as usize];
    let mut per_worker: HashMap<String, u32> = HashMap::new();
    for _ in 0..TASKS {
        let report = sink.recv().await?;
        assert_eq!(report.len(), 3, "{report:?}");
        assert_eq!(report[0], "done");
        let task = u32::from_le_bytes(report[2][..].try_into().expect("a 4-byte task id"));
        delivered[task as usize] += 1;
        *per_worker
            .entry(text(&Multipart::from(report[1].clone())))
            .or_default() += 1;
    }
    let _push = sender.await??;

    let lost: Vec<usize> = (0..delivered.len())
        .filter(|&t| delivered[t] == 0)
        .collect();
    let duplicated: Vec<usize> = (0..delivered.len()).filter(|&t| delivered[t] > 1).collect();
    assert!(lost.is_empty(), "tasks never delivered: {lost:?}");
    assert!(
        duplicated.is_empty(),
        "tasks delivered twice: {duplicated:?}"
    );
    // Nothing beyond the TASKS reports.
    assert!(recv_within(&sink, Duration::from_millis(50))
        .await?
        .is_none());

    // Every worker was attached before the first task, so round robin gave
    // each of them a share.
    assert!(
        per_worker.len() > 1,
        "only one worker got work: {per_worker:?}"
    );
    assert_eq!(
        per_worker.len(),
        WORKERS,
        "some worker got no task: {per_worker:?}"
    );

    // Closing a worker's PULL wakes its pending recv with Error::Closed.
    for (worker, (pull, handle)) in workers.into_iter().enumerate() {
        pull.close();
        let done = handle.await??;
        assert_eq!(Some(&done), per_worker.get(&worker.to_string()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// 4. ROUTER/DEALER
// ---------------------------------------------------------------------------

per_transport!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    router_dealer
);

async fn router_dealer(transport: Transport) -> TestResult {
    const DEALERS: usize = 3;
    const REQUESTS: usize = 40;

    /// The payload of request `seq` of a dealer: sizes from 0 to well
    /// above `Message::COPY_THRESHOLD`, so both the copied and the
    /// zero-copy frame paths are used.
    fn payload(dealer: usize, seq: usize) -> Vec<u8> {
        (0..seq * 97)
            .map(|i| (i + dealer * 31 + seq) as u8)
            .collect()
    }

    let (router, endpoint) = bound(SocketType::Router, &transport, "router")?;

    let server = tokio::spawn(async move {
        for _ in 0..DEALERS * REQUESTS {
            let mut request = router.recv().await?;
            // [routing id, "req", seq, payload]
            assert_eq!(request.len(), 4, "{request:?}");
            let id = request.pop_front().expect("a routing id");
            assert_eq!(request[0], "req");
            // Reply to that dealer only, with its own id echoed in the body.
            let mut reply: Multipart = [Message::from("rep"), request[1].clone(), id.clone()]
                .into_iter()
                .collect();
            reply.push_back(request.pop_back().expect("a payload"));
            reply.push_front(id);
            router.send(reply).await?;
        }
        Ok::<_, Error>(router)
    });

    let mut clients = Vec::new();
    for dealer_no in 0..DEALERS {
        let dealer = Socket::new(SocketType::Dealer)?;
        let id = format!("dealer-{dealer_no}").into_bytes();
        dealer.set(options::ROUTING_ID, id.as_slice())?;
        assert_eq!(dealer.get(options::ROUTING_ID)?, id);
        dealer.connect(&endpoint)?;
        clients.push(tokio::spawn(async move {
            // Pipelined: all requests first, then all replies.
            for seq in 0..REQUESTS {
                let request = vec![
                    Bytes::from_static(b"req"),
                    Bytes::from(seq.to_string()),
                    Bytes::from(payload(dealer_no, seq)),
                ];
                dealer.send(request).await?;
            }
            for seq in 0..REQUESTS {
                let reply = dealer.recv().await?;
                assert_eq!(reply.len(), 4, "{reply:?}");
                assert_eq!(reply[0], "rep");
                assert_eq!(
                    reply[1].as_str(),
                    Some(seq.to_string().as_str()),
                    "replies in order"
                );
                assert_eq!(reply[2], id.as_slice(), "a reply meant for another dealer");
                assert_eq!(reply[3], payload(dealer_no, seq).as_slice());
                for (i, frame) in reply.iter().enumerate() {
                    assert_eq!(frame.more(), i + 1 < reply.len());
                }
            }
            // Nothing more: no other dealer's reply came here.
            assert!(recv_within(&dealer, Duration::from_millis(50))
                .await?
                .is_none());
            Ok::<_, Error>(())
        }));
    }
    for client in clients {
        client.await??;
    }
    let _router = server.await??;
    Ok(())
}

// ---------------------------------------------------------------------------
// 5. PAIR
// ---------------------------------------------------------------------------

per_transport!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    pair
);

async fn pair(transport: Transport) -> TestResult {
    let (a, endpoint) = bound(SocketType::Pair, &transport, "pair")?;
    let b = connected(SocketType::Pair, &endpoint)?;

    // Ping-pong.
    for i in 0..10 {
        a.send(format!("ping {i}")).await?;
        assert_eq!(b.recv_string().await?, format!("ping {i}"));
        b.send(format!("pong {i}")).await?;
        assert_eq!(a.recv_string().await?, format!("pong {i}"));
    }

    // Both directions at once, each socket shared by a sending and a
    // receiving task.
    const N: usize = 2000;
    let a = Arc::new(a);
    let b = Arc::new(b);
    let mut tasks = Vec::new();
    for (from, to, name) in [(&a, &b, "a->b"), (&b, &a, "b->a")] {
        let sender = Arc::clone(from);
        tasks.push(tokio::spawn(async move {
            for i in 0..N {
                sender.send(format!("{name} {i}")).await?;
            }
            Ok::<_, Error>(())
        }));
        let receiver = Arc::clone(to);
        tasks.push(tokio::spawn(async move {
            for i in 0..N {
                assert_eq!(receiver.recv_string().await?, format!("{name} {i}"));
            }
            Ok::<_, Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    assert!(a.try_recv()?.is_none());
    assert!(b.try_recv()?.is_none());
    Ok(())
}

// ---------------------------------------------------------------------------
// 6. XPUB/XSUB
// ---------------------------------------------------------------------------

per_transport!(
    #[tokio::test]
    xpub_xsub
);

async fn xpub_xsub(transport: Transport) -> TestResult {
    let (xpub, endpoint) = bound(SocketType::XPub, &transport, "xpub")?;
    let xsub = connected(SocketType::XSub, &endpoint)?;

    xsub.subscribe("topic")?;
    let subscription = xpub.recv().await?;
    assert_eq!(subscription.len(), 1);
    assert_eq!(subscription[0], b"\x01topic");

    // The XPUB has read the subscription, so publishing is now safe.
    xpub.send("other: not subscribed").await?;
    xpub.send("topic: data").await?;
    xpub.send(["topic: multi", "part"]).await?;
    assert_eq!(xsub.recv_string().await?, "topic: data");
    assert_eq!(texts(&xsub.recv().await?), ["topic: multi", "part"]);

    xsub.unsubscribe("topic")?;
    let unsubscription = xpub.recv().await?;
    assert_eq!(unsubscription.len(), 1);
    assert_eq!(unsubscription[0], b"\x00topic");

    // After the unsubscription "topic" no longer reaches the XSUB: with a
    // new subscription as a marker, the first thing it gets is the marker.
    xsub.send(&b"\x01end"[..]).await?; // a raw subscription message
    assert_eq!(xpub.recv().await?[0], b"\x01end");
    xpub.send("topic: too late").await?;
    xpub.send("end").await?;
    assert_eq!(xsub.recv_string().await?, "end");
    assert!(xsub.try_recv()?.is_none());
    Ok(())
}

// ---------------------------------------------------------------------------
// 7. STREAM and plain TCP
// ---------------------------------------------------------------------------

/// Receives from a STREAM socket until `len` bytes came from the peer
/// `id` (TCP may split what was written in one go).
async fn stream_recv_bytes(
    stream: &Socket,
    id: &Message,
    len: usize,
) -> zmq_tokio::Result<Vec<u8>> {
    let mut data = Vec::new();
    while data.len() < len {
        let msg = stream.recv().await?;
        assert_eq!(
            msg.len(),
            2,
            "STREAM messages are [routing id, data]: {msg:?}"
        );
        assert_eq!(&msg[0], id, "data from an unexpected peer");
        assert!(!msg[1].is_empty(), "unexpected (dis)connect notification");
        data.extend_from_slice(&msg[1]);
    }
    assert_eq!(data.len(), len);
    Ok(data)
}

/// A STREAM socket's connect (or disconnect) notification: [id, ""].
async fn stream_notification(stream: &Socket) -> zmq_tokio::Result<Message> {
    let mut msg = stream.recv().await?;
    assert_eq!(msg.len(), 2, "{msg:?}");
    assert!(msg[1].is_empty(), "expected a notification, got {msg:?}");
    let id = msg.pop_front().expect("a routing id");
    assert!(!id.is_empty());
    Ok(id)
}

#[tokio::test]
async fn stream_socket_serves_tcp_stream() {
    {
        let what = "stream_socket_serves_tcp_stream";
        bounded(what, TEST_TIMEOUT, async {
            let (stream, endpoint) = bound(SocketType::Stream, &Transport::Tcp, "stream")?;
            let address = endpoint.strip_prefix("tcp://").expect("a tcp endpoint");
            let mut client = TcpStream::connect(address).await?;

            // libzmq announces a new connection with an empty frame.
            let id = stream_notification(&stream).await?;

            let request = b"GET / HTTP/1.0\r\n\r\n";
            client.write_all(request).await?;
            assert_eq!(
                stream_recv_bytes(&stream, &id, request.len()).await?,
                request
            );

            let reply = b"HTTP/1.0 200 OK\r\n\r\nhello";
            stream.send([id.clone(), Message::from(&reply[..])]).await?;
            let mut buf = vec![0; reply.len()];
            client.read_exact(&mut buf).await?;
            assert_eq!(buf, reply);

            // A second client gets its own routing id; its disconnect is
            // announced with an empty frame too.
            let second = TcpStream::connect(address).await?;
            let second_id = stream_notification(&stream).await?;
            assert_ne!(second_id, id);
            drop(second);
            assert_eq!(stream_notification(&stream).await?, second_id);

            // Sending [id, ""] closes that connection: the client reads EOF.
            // libzmq closes it only once the STREAM socket processes its
            // commands again (the pipe's termination handshake runs through
            // the socket's mailbox; the synchronous `zmq` crate behaves the
            // same: no EOF until the next call on the socket). So someone must
            // be using the socket: here a pending `recv`, as a server's receive
            // loop would be.
            stream.send([id.clone(), Message::new()]).await?;
            let n = tokio::select! {
                n = client.read(&mut buf) => n?,
                msg = stream.recv() => panic!("unexpected message {:?}", msg?),
            };
            assert_eq!(n, 0, "expected EOF, got {:?}", &buf[..n]);
            TestResult::Ok(())
        })
        .await
        .unwrap_or_else(|e| panic!("{what} failed: {e}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_socket_connects_to_tcp_listener() {
    {
        let what = "stream_socket_connects_to_tcp_listener";
        bounded(what, TEST_TIMEOUT, async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let address = listener.local_addr()?;
            let stream = connected(SocketType::Stream, &format!("tcp://{address}"))?;
            let (mut server, _) = listener.accept().await?;

            let id = stream_notification(&stream).await?;

            stream.send([id.clone(), Message::from("ping")]).await?;
            let mut buf = [0; 4];
            server.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"ping");

            server.write_all(b"pong and more").await?;
            assert_eq!(stream_recv_bytes(&stream, &id, 13).await?, b"pong and more");

            // The listener side hangs up: STREAM announces the disconnect.
            drop(server);
            assert_eq!(stream_notification(&stream).await?, id);
            TestResult::Ok(())
        })
        .await
        .unwrap_or_else(|e| panic!("{what} failed: {e}"))
    }
}

// ---------------------------------------------------------------------------
// 8. Stream and Sink
// ---------------------------------------------------------------------------

per_transport!(
    #[tokio::test]
    stream_and_sink
);

async fn stream_and_sink(transport: Transport) -> TestResult {
    let (mut push, endpoint) = bound(SocketType::Push, &transport, "sink")?;
    let mut pull = connected(SocketType::Pull, &endpoint)?;

    // `Socket::send` (inherent) shadows `SinkExt::send`: name the trait.
    SinkExt::send(&mut push, Multipart::from("x")).await?;
    let first = pull.next().await.expect("the stream ended")?;
    assert_eq!(first, Multipart::from("x"));

    // feed + flush, and send_all of a stream of multipart messages.
    push.feed(Multipart::from(["fed", "two frames"])).await?;
    push.flush().await?;
    let mut batch = futures::stream::iter((0..200).map(|i| Ok(Multipart::from(format!("m{i}")))));
    push.send_all(&mut batch).await?;

    assert_eq!(
        texts(&pull.next().await.expect("ended")?),
        ["fed", "two frames"]
    );
    let got: Vec<String> = (&mut pull)
        .take(200)
        .map(|msg| text(&msg.expect("a message")))
        .collect()
        .await;
    let expected: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    assert_eq!(got, expected);

    // The stream ends once its socket is closed.
    pull.close();
    assert!(pull.next().await.is_none());
    Ok(())
}

per_transport!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    split_stream_and_sink
);

async fn split_stream_and_sink(transport: Transport) -> TestResult {
    const N: usize = 500;
    let (a, endpoint) = bound(SocketType::Pair, &transport, "split")?;
    let b = connected(SocketType::Pair, &endpoint)?;

    // b echoes: its stream half forwarded into its sink half.
    let (b_tx, b_rx) = b.split();
    let echo = tokio::spawn(b_rx.take(N).forward(b_tx));

    // a sends from one task and receives in another, through split halves.
    let (mut a_tx, a_rx) = a.split();
    let sender = async move {
        for i in 0..N {
            a_tx.send(Multipart::from([format!("{i}"), "payload".to_owned()]))
                .await?;
        }
        Ok::<_, Error>(a_tx)
    };
    let receiver = a_rx
        .take(N)
        .map(|msg| texts(&msg.expect("a message")))
        .collect::<Vec<_>>();
    let (a_tx, got) = tokio::join!(sender, receiver);
    let _a_tx = a_tx?;
    for (i, frames) in got.iter().enumerate() {
        assert_eq!(frames, &[i.to_string(), "payload".to_owned()]);
    }
    assert_eq!(got.len(), N);
    echo.await??;

    // DEALER/ROUTER: one DEALER used as Stream and Sink at once in a select
    // loop. Both impls take `&mut Socket` (there is no `Stream for &Socket`),
    // so polling both directions concurrently needs `split`.
    let (router, endpoint) = bound(SocketType::Router, &transport, "split-router")?;
    let (mut dealer_tx, mut dealer_rx) = connected(SocketType::Dealer, &endpoint)?.split();
    let server = tokio::spawn(async move {
        for _ in 0..10 {
            let msg = router.recv().await?;
            router.send(msg).await?; // echo, routing id first
        }
        Ok::<_, Error>(router)
    });
    let mut sent = 0;
    let mut echoed = Vec::new();
    while echoed.len() < 10 {
        tokio::select! {
            res = dealer_tx.send(Multipart::from(format!("d{sent}"))), if sent < 10 => {
                res?;
                sent += 1;
            }
            msg = dealer_rx.next() => echoed.push(text(&msg.expect("the stream ended")?)),
        }
    }
    assert_eq!(echoed, (0..10).map(|i| format!("d{i}")).collect::<Vec<_>>());
    server.await??;
    Ok(())
}

// ---------------------------------------------------------------------------
// 9. Multipart messages and single-frame helpers
// ---------------------------------------------------------------------------

per_transport!(
    #[tokio::test]
    multipart_round_trip
);

async fn multipart_round_trip(transport: Transport) -> TestResult {
    let (a, endpoint) = bound(SocketType::Pair, &transport, "multipart")?;
    let b = connected(SocketType::Pair, &endpoint)?;

    let big = Bytes::from(
        (0..100_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let mut msg = Multipart::new();
    msg.push_back("header");
    msg.push_back(Message::new()); // an empty frame
    msg.push_back(big.clone()); // zero-copy sized
    msg.push_back(vec![1u8, 2, 3]);
    msg.push_back(&b"\x00\xff binary"[..]);
    msg.push_front(String::from("first"));
    a.send(msg.clone()).await?;
    let got = b.recv().await?;
    assert_eq!(got, msg);
    assert_eq!(got.len(), 6);
    assert_eq!(got[3].len(), big.len());
    for (i, frame) in got.iter().enumerate() {
        assert_eq!(frame.more(), i + 1 < got.len(), "more flag of frame {i}");
    }
    // Clones (copied small frames, shared large ones) keep the flag, and
    // frames built locally have none.
    let cloned = got.clone();
    for (i, frame) in cloned.iter().enumerate() {
        assert_eq!(frame.more(), i + 1 < got.len(), "more flag of clone {i}");
    }
    assert!(msg.iter().all(|frame| !frame.more()), "local frames");

    // Vec and array conversions keep frame order.
    a.send(vec!["x", "y", "z"]).await?;
    a.send(vec![Bytes::from_static(b"p"), Bytes::from_static(b"q")])
        .await?;
    a.send(vec![Message::from("m1"), Message::from("m2")])
        .await?;
    assert_eq!(texts(&b.recv().await?), ["x", "y", "z"]);
    assert_eq!(texts(&b.recv().await?), ["p", "q"]);
    assert_eq!(texts(&b.recv().await?), ["m1", "m2"]);

    // A hundred frames in one message, in order.
    let many: Vec<String> = (0..100).map(|i| format!("frame {i}")).collect();
    b.send(many.clone()).await?;
    assert_eq!(texts(&a.recv().await?), many);

    // Single-frame helpers.
    a.send("plain text").await?;
    assert_eq!(b.recv_string().await?, "plain text");
    a.send(big.clone()).await?;
    assert_eq!(b.recv_bytes().await?, big);
    a.send(Vec::<u8>::new()).await?;
    assert!(b.recv_bytes().await?.is_empty());
    a.send(String::from("ünïcödé")).await?;
    assert_eq!(b.recv_string().await?, "ünïcödé");

    // Wrong shapes fail clearly and still consume the message.
    a.send(["two", "frames"]).await?;
    let err = b.recv_string().await.expect_err("two frames");
    assert!(matches!(err, Error::InvalidMessage { .. }), "{err:?}");
    a.send(&[0xffu8, 0xfe, 0xfd][..]).await?;
    let err = b.recv_string().await.expect_err("not UTF-8");
    assert!(matches!(err, Error::InvalidMessage { .. }), "{err:?}");
    a.send(["also", "two"]).await?;
    let err = b.recv_bytes().await.expect_err("two frames");
    assert!(matches!(err, Error::InvalidMessage { .. }), "{err:?}");
    a.send("after the errors").await?;
    assert_eq!(b.recv_string().await?, "after the errors");
    assert!(b.try_recv()?.is_none());
    Ok(())
}
