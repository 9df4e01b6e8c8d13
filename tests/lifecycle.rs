//! Lifecycle: building, closing, shutdown, termination, linger and
//! timeouts (SPEC §1 Context/Sockets, §2.4 and §2.6).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::timeout;
use zmq_tokio::errno::ETERM;
use zmq_tokio::{options, Context, Error, Multipart, Socket, SocketType, TrySendError};

mod support;
use support::{bounded, unique_inproc, TEST_LIMIT};

/// Bound on an operation that must fail at once rather than wait.
const PROMPT: Duration = Duration::from_secs(2);

/// A loopback port with nothing listening on it: bound, then unbound.
async fn absent_peer() -> String {
    let probe = Socket::new(SocketType::Pull).unwrap();
    let endpoint = probe.bind("tcp://127.0.0.1:*").unwrap();
    probe.unbind(&endpoint).unwrap();
    endpoint
}

#[tokio::test]
async fn builder_applies_options_before_connecting() {
    let ctx = Context::new();
    let router = Socket::builder(SocketType::Router)
        .context(&ctx)
        .bind("inproc://builder")
        .build()
        .unwrap();
    // Called in the "wrong" order: the routing id must still be set before
    // the connect, or the router would see a generated one.
    let dealer = Socket::builder(SocketType::Dealer)
        .context(&ctx)
        .connect("inproc://builder")
        .routing_id("dealer-7")
        .set(options::SNDHWM, 5)
        .build()
        .unwrap();
    assert_eq!(dealer.get(options::SNDHWM).unwrap(), 5);
    assert_eq!(dealer.get(options::ROUTING_ID).unwrap(), b"dealer-7");
    bounded("router receives", Duration::from_secs(10), async {
        dealer.send("hi").await.unwrap();
        let msg = router.recv().await.unwrap();
        assert_eq!(msg[0], "dealer-7");
        assert_eq!(msg[1], "hi");
    })
    .await;
}

#[tokio::test]
async fn builder_subscribes_and_reports_the_first_error() {
    let ctx = Context::new();
    let publisher = Socket::builder(SocketType::Pub)
        .context(&ctx)
        .bind("inproc://builder-pubsub")
        .build()
        .unwrap();
    let subscriber = Socket::builder(SocketType::Sub)
        .context(&ctx)
        .subscribe("weather ")
        .connect("inproc://builder-pubsub")
        .build()
        .unwrap();
    bounded("subscription works", Duration::from_secs(10), async {
        // inproc connects at once, but the subscription reaches the PUB
        // asynchronously: publish until the subscriber has a message.
        loop {
            publisher.send("sports x").await.unwrap();
            publisher.send("weather 21C").await.unwrap();
            if let Some(msg) = subscriber.try_recv().unwrap() {
                assert_eq!(msg[0], "weather 21C");
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;

    let err = Socket::builder(SocketType::Push)
        .context(&ctx)
        .bind("tcp://127.0.0.1:99999")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidEndpoint { .. }), "{err}");
    let err = Socket::builder(SocketType::Push)
        .context(&ctx)
        .subscribe("x")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "SUBSCRIBE",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn endpoints_lists_what_is_bound_and_connected() {
    let socket = Socket::new(SocketType::Pull).unwrap();
    assert!(socket.endpoints().bound.is_empty());
    let tcp = socket.bind("tcp://127.0.0.1:*").unwrap();
    assert!(!tcp.ends_with(":*"), "wildcard not resolved: {tcp}");
    socket.bind("inproc://endpoints-list").unwrap();
    let peer = absent_peer().await;
    socket.connect(&peer).unwrap();
    let endpoints = socket.endpoints();
    assert_eq!(
        endpoints.bound,
        vec![tcp.clone(), "inproc://endpoints-list".to_owned()]
    );
    assert_eq!(endpoints.connected, vec![peer.clone()]);

    socket.unbind(&tcp).unwrap();
    socket.disconnect(&peer).unwrap();
    let endpoints = socket.endpoints();
    assert_eq!(endpoints.bound, vec!["inproc://endpoints-list".to_owned()]);
    assert!(endpoints.connected.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_wakes_every_pending_operation_and_closed_resolves() {
    let ctx = Context::new();
    let pull = Arc::new(ctx.socket(SocketType::Pull).unwrap());
    pull.bind("inproc://close-wakes").unwrap();
    let push = Arc::new(ctx.socket(SocketType::Push).unwrap());
    // No peer: send waits for one.
    let closed = pull.closed();
    let push_closed = push.closed();
    // The closed() future is 'static and Send: it can be spawned.
    let closed_task = tokio::spawn(closed);

    let receivers: Vec<_> = (0..4)
        .map(|_| {
            let pull = Arc::clone(&pull);
            tokio::spawn(async move { pull.recv().await })
        })
        .collect();
    let sender = {
        let push = Arc::clone(&push);
        tokio::spawn(async move { push.send("nobody listens").await })
    };
    let readable = {
        let pull = Arc::clone(&pull);
        tokio::spawn(async move { pull.readable().await })
    };
    // Give the tasks time to park in their waits, so that close() finds
    // them pending (no observable signal tells when a task has parked).
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        receivers.iter().all(|task| !task.is_finished()),
        "recv returned with no message"
    );
    assert!(!sender.is_finished(), "send returned with no peer");
    assert!(!readable.is_finished(), "readable returned with no message");
    assert!(!closed_task.is_finished(), "closed() resolved early");
    assert!(!pull.is_closed());
    pull.close();
    push.close();
    bounded(
        "pending operations wake on close",
        Duration::from_secs(10),
        async {
            for task in receivers {
                assert!(matches!(task.await.unwrap(), Err(Error::Closed)));
            }
            assert!(matches!(sender.await.unwrap(), Err(Error::Closed)));
            assert!(matches!(readable.await.unwrap(), Err(Error::Closed)));
            closed_task.await.unwrap();
            push_closed.await;
        },
    )
    .await;
    assert!(pull.is_closed());
    assert!(matches!(pull.try_recv(), Err(Error::Closed)));
    assert!(matches!(pull.bind("inproc://again"), Err(Error::Closed)));
    pull.close(); // twice is harmless
}

#[tokio::test(flavor = "current_thread")]
async fn closed_resolves_when_the_last_holder_drops_the_socket() {
    bounded("test timed out", TEST_LIMIT, async {
        let socket = Arc::new(Socket::new(SocketType::Dealer).expect("socket"));
        let other = Arc::clone(&socket);
        let closed = tokio::spawn(socket.closed());
        drop(socket);
        tokio::task::yield_now().await;
        assert!(!closed.is_finished(), "resolved while a holder remains");
        drop(other);
        timeout(PROMPT, closed)
            .await
            .expect("closed() not resolved by drop")
            .expect("task");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_fails_pending_and_later_operations() {
    bounded("test timed out", TEST_LIMIT, async {
        let ctx = Context::new();
        let endpoint = unique_inproc("shutdown");
        let pull = Arc::new(ctx.socket(SocketType::Pull).expect("pull"));
        pull.bind(&endpoint).expect("bind");
        let push = ctx.socket(SocketType::Push).expect("push");
        push.connect(&endpoint).expect("connect");
        push.send("before").await.expect("send");
        assert_eq!(pull.recv_string().await.expect("recv"), "before");

        // A socket of another context is not affected.
        let bystander = Socket::new(SocketType::Pair).expect("global socket");

        let pending = {
            let pull = Arc::clone(&pull);
            tokio::spawn(async move { pull.recv().await })
        };
        let closed = tokio::spawn(pull.closed());
        // Let the recv park in its wait (nothing observable says it has).
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!pending.is_finished(), "recv returned with no message");

        ctx.shutdown();
        assert!(ctx.is_shutdown());
        let r = timeout(PROMPT, pending)
            .await
            .expect("pending recv not woken by shutdown")
            .expect("task");
        assert!(matches!(r, Err(Error::ContextTerminated)), "{r:?}");
        timeout(PROMPT, closed)
            .await
            .expect("closed() not resolved by shutdown")
            .expect("task");
        assert!(pull.is_closed() && push.is_closed());

        let terminated = |what: &str, r: zmq_tokio::Result<()>| match r {
            Err(e @ Error::ContextTerminated) => {
                assert_eq!(e.errno(), Some(ETERM), "{what}");
                assert!(!e.to_string().is_empty());
            }
            other => panic!("{what} after shutdown: {other:?}"),
        };
        terminated(
            "send",
            timeout(PROMPT, push.send("after"))
                .await
                .expect("send hung"),
        );
        terminated(
            "recv",
            timeout(PROMPT, pull.recv())
                .await
                .expect("recv hung")
                .map(drop),
        );
        terminated(
            "readable",
            timeout(PROMPT, pull.readable()).await.expect("hung"),
        );
        terminated("try_recv", pull.try_recv().map(drop));
        terminated("bind", pull.bind(&unique_inproc("after")).map(drop));
        terminated("connect", push.connect(&unique_inproc("after")));
        terminated("set", push.set(options::SNDHWM, 3));
        match push.try_send("kept") {
            Err(TrySendError::Failed(Error::ContextTerminated, back)) => {
                assert_eq!(back, Multipart::from("kept"))
            }
            other => panic!("try_send after shutdown: {other:?}"),
        }
        terminated("ctx.socket", ctx.socket(SocketType::Pair).map(drop));

        assert!(!bystander.is_closed());
        bystander
            .set(options::SNDHWM, 3)
            .expect("other context works");
        assert_eq!(
            io::Error::from(Error::ContextTerminated).kind(),
            io::ErrorKind::BrokenPipe
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn terminate_closes_sockets_and_waits_for_libzmq() {
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect(&absent_peer().await).unwrap();
    // Queued for a peer that never comes: term would wait for the linger
    // (set short here) and no longer.
    push.set(options::LINGER, 100).unwrap();
    push.send("never delivered").await.unwrap();
    let other_handle = ctx.clone();
    bounded("terminate", Duration::from_secs(10), ctx.terminate())
        .await
        .unwrap();
    assert!(other_handle.is_shutdown());
    assert!(push.is_closed());
    assert!(matches!(
        push.send("x").await,
        Err(Error::ContextTerminated)
    ));
    assert!(matches!(
        other_handle.socket(SocketType::Pull),
        Err(Error::ContextTerminated)
    ));
    // A second terminate returns at once.
    bounded(
        "terminate again",
        Duration::from_secs(5),
        other_handle.terminate(),
    )
    .await
    .unwrap();
}

/// Messages sent just before a close are still delivered to a live peer
/// within the linger period: close does not throw them away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_before_close_are_delivered_during_linger() {
    const COUNT: usize = 200;
    let pull = Socket::new(SocketType::Pull).unwrap();
    let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = Socket::new(SocketType::Push).unwrap();
    push.connect(&endpoint).unwrap();
    let frame = vec![42u8; 64 * 1024];
    for _ in 0..COUNT {
        push.send(frame.clone()).await.unwrap();
    }
    // Most of 12 MiB cannot have crossed loopback yet.
    drop(push);
    bounded(
        "lingering messages arrive",
        Duration::from_secs(20),
        async {
            for _ in 0..COUNT {
                let msg = pull.recv().await.unwrap();
                assert_eq!(msg[0].len(), frame.len());
            }
        },
    )
    .await;
}

/// Dropping sockets with unsent messages to an absent peer, and their
/// context, never blocks a current-thread runtime: its timers keep firing.
/// LINGER is set far longer than the test's bound, so a drop (or a
/// zmq_ctx_term) that waited for it would fail the test.
#[tokio::test(flavor = "current_thread")]
async fn dropping_sockets_with_unsent_messages_never_blocks_the_runtime() {
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = {
        let ticks = Arc::clone(&ticks);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(1));
            loop {
                interval.tick().await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let peer = absent_peer().await;
    bounded("drop without blocking", Duration::from_secs(20), async {
        let ctx = Context::new();
        let mut sockets = Vec::new();
        for _ in 0..20 {
            let push = ctx.socket(SocketType::Push).unwrap();
            push.set(options::LINGER, 60_000).unwrap();
            push.connect(&peer).unwrap();
            for n in 0..10 {
                push.send(format!("unsent {n}")).await.unwrap();
            }
            sockets.push(push);
        }
        drop(sockets);
        drop(ctx);
        // The runtime goes on: the timer keeps ticking.
        let before = ticks.load(Ordering::SeqCst);
        while ticks.load(Ordering::SeqCst) < before + 20 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    ticker.abort();
}

#[tokio::test(flavor = "current_thread")]
async fn rcvtimeo_and_sndtimeo_give_timeout_errors() {
    // Every libzmq call uses ZMQ_DONTWAIT, so libzmq's own RCVTIMEO and
    // SNDTIMEO never apply: the crate applies them to its waits (a
    // regression test: recv once waited forever).
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    // For inproc, libzmq takes the binder's HWM at bind time.
    pull.set(options::RCVHWM, 1).unwrap();
    pull.bind("inproc://timeouts").unwrap();
    pull.set(options::RCVTIMEO, 30).unwrap();
    assert_eq!(pull.get(options::RCVTIMEO).unwrap(), 30);
    bounded("recv times out", Duration::from_secs(5), async {
        assert!(matches!(pull.recv().await, Err(Error::Timeout)));
    })
    .await;
    // RCVTIMEO = 0: fail at once when nothing is there.
    pull.set(options::RCVTIMEO, 0).unwrap();
    assert!(matches!(pull.recv().await, Err(Error::Timeout)));

    let push = ctx.socket(SocketType::Push).unwrap();
    push.set(options::SNDHWM, 1).unwrap();
    push.connect("inproc://timeouts").unwrap();
    push.set(options::SNDTIMEO, 30).unwrap();
    bounded("send times out at the HWM", Duration::from_secs(5), async {
        let mut sent = 0;
        loop {
            match push.send("fill").await {
                Ok(()) => sent += 1,
                Err(Error::Timeout) => break,
                Err(e) => panic!("unexpected: {e}"),
            }
            assert!(sent < 100, "the HWM never filled");
        }
        // A timeout loses nothing that was sent, and the socket recovers.
        pull.set(options::RCVTIMEO, -1).unwrap();
        for _ in 0..sent {
            assert_eq!(pull.recv_string().await.unwrap(), "fill");
        }
        push.send("after").await.unwrap();
        assert_eq!(pull.recv_string().await.unwrap(), "after");
    })
    .await;
}

/// A peer that sends more than MAXMSGSIZE is disconnected by libzmq; the
/// receiving socket survives and keeps serving other peers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_maxmsgsize_does_not_hurt_the_receiver() {
    let pull = Socket::new(SocketType::Pull).unwrap();
    pull.set(options::MAXMSGSIZE, 100).unwrap();
    let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
    let big = Socket::new(SocketType::Push).unwrap();
    big.connect(&endpoint).unwrap();
    big.send(vec![0u8; 1000]).await.unwrap();
    let small = Socket::new(SocketType::Push).unwrap();
    small.connect(&endpoint).unwrap();
    small.send("fits").await.unwrap();
    bounded(
        "the receiver keeps serving",
        Duration::from_secs(10),
        async {
            let msg = pull.recv().await.unwrap();
            assert_eq!(msg[0], "fits", "the oversized message must never arrive");
        },
    )
    .await;
    // Nothing else is waiting: the oversized message was dropped.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(pull.try_recv().unwrap().is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn use_after_close_is_closed() {
    bounded("test timed out", TEST_LIMIT, async {
        let socket = Socket::new(SocketType::Pair).expect("socket");
        let closed = socket.closed();
        assert!(!socket.is_closed());
        socket.close();
        socket.close(); // harmless
        assert!(socket.is_closed());
        timeout(PROMPT, closed)
            .await
            .expect("closed() did not resolve");
        timeout(PROMPT, socket.closed())
            .await
            .expect("closed() after close did not resolve");

        let closed = |what: &str, r: zmq_tokio::Result<()>| match r {
            Err(Error::Closed) => {}
            other => panic!("{what} after close: {other:?}"),
        };
        closed(
            "send",
            timeout(PROMPT, socket.send("x")).await.expect("send hung"),
        );
        closed(
            "recv",
            timeout(PROMPT, socket.recv())
                .await
                .expect("recv hung")
                .map(drop),
        );
        closed(
            "recv_string",
            timeout(PROMPT, socket.recv_string())
                .await
                .expect("hung")
                .map(drop),
        );
        closed(
            "readable",
            timeout(PROMPT, socket.readable()).await.expect("hung"),
        );
        closed(
            "writable",
            timeout(PROMPT, socket.writable()).await.expect("hung"),
        );
        closed("bind", socket.bind(&unique_inproc("closed")).map(drop));
        closed("connect", socket.connect(&unique_inproc("closed")));
        closed("unbind", socket.unbind(&unique_inproc("closed")));
        closed("set", socket.set(options::SNDHWM, 5));
        closed("get", socket.get(options::SNDHWM).map(drop));
        closed("events", socket.events().map(drop));
        closed("try_recv", socket.try_recv().map(drop));
        match socket.try_send("kept") {
            Err(TrySendError::Failed(Error::Closed, back)) => {
                assert_eq!(back, Multipart::from("kept"))
            }
            other => panic!("try_send after close: {other:?}"),
        }
        let sub = Socket::new(SocketType::Sub).expect("sub");
        sub.close();
        closed("subscribe", sub.subscribe("x"));

        assert_eq!(Error::Closed.errno(), None);
        assert!(!Error::Closed.to_string().is_empty());
        assert_eq!(
            io::Error::from(Error::Closed).kind(),
            io::ErrorKind::NotConnected
        );
    })
    .await;
}
