//! No lost wakeups (SPEC §2.1) and cooperative draining (§2.5).
//!
//! `ZMQ_FD` is one edge-triggered signal for both directions, re-armed only
//! when someone drains the socket's mailbox. These tests put several tasks
//! on one socket, so that one task's libzmq call routinely consumes the edge
//! another task waits for, and push enough messages through that a lost
//! wakeup turns into a hang, which the timeouts turn into a failure.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use zmq_tokio::{options, Context, Error, Multipart, Socket, SocketType};

/// Fails the test instead of hanging it.
async fn bounded<T>(what: &str, secs: u64, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: no progress within {secs} s (a lost wakeup?)"),
    }
}

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
    bounded("duplex on one shared socket", 120, async {
        sender.await.unwrap();
        receiver.await.unwrap();
    })
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
    bounded("duplex over inproc", 120, async {
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

    let all = bounded("many receivers on one socket", 120, async {
        for task in sender_tasks {
            task.await.unwrap();
        }
        let mut all = Vec::new();
        for task in receiver_tasks {
            all.extend(task.await.unwrap());
        }
        all
    })
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
    bounded("Stream + Sink halves of one socket", 120, async {
        for expected in 0..total {
            let msg = stream.next().await.expect("stream ended").unwrap();
            assert_eq!(number_of(&msg), expected);
        }
        sender.await.unwrap();
        echo_task.await.unwrap();
    })
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

    bounded("draining the backlog", 60, async {
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
    bounded("draining the stream", 60, async {
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
