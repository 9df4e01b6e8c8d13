//! Socket monitoring (SPEC "socket.monitor"): the events of real TCP
//! connections, mask filtering, the end of the stream, and the shutdown
//! rules that keep libzmq's I/O threads from hanging on the monitor's
//! blocking sends (libzmq #2829, #3575).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use zmq_tokio::{Context, Error, Event, EventMask, Monitor, Socket, SocketEvent, SocketType};

mod support;
use support::bounded;

/// Reads events until one of kind `want`; returns it and those before it.
async fn wait_for(monitor: &mut Monitor, want: Event) -> (SocketEvent, Vec<SocketEvent>) {
    let mut seen = Vec::new();
    let found = bounded(
        &format!("waiting for {want:?}"),
        Duration::from_secs(10),
        async {
            loop {
                match monitor.next().await {
                    Some(Ok(event)) if event.event == want => return event,
                    Some(Ok(event)) => seen.push(event),
                    Some(Err(e)) => panic!("monitor error while waiting for {want:?}: {e}"),
                    None => panic!("the monitor ended before {want:?}; saw {seen:?}"),
                }
            }
        },
    )
    .await;
    (found, seen)
}

/// Reads events until the stream ends.
async fn until_end(monitor: &mut Monitor) -> Vec<SocketEvent> {
    bounded(
        "waiting for the monitor to end",
        Duration::from_secs(10),
        async {
            let mut seen = Vec::new();
            while let Some(event) = monitor.next().await {
                seen.push(event.expect("a well-formed event"));
            }
            seen
        },
    )
    .await
}

fn kinds(events: &[SocketEvent]) -> Vec<Event> {
    events.iter().map(|e| e.event).collect()
}

/// A file descriptor as libzmq reports it: not -1, not stdio.
fn assert_fd(event: &SocketEvent) {
    assert!(
        event.value > 2 && event.value < i32::MAX as u32,
        "not a file descriptor: {event:?}"
    );
}

/// One request/reply exchange, proving both sockets work.
async fn exchange(req: &Socket, rep: &Socket, text: &str) {
    bounded("request/reply exchange", Duration::from_secs(10), async {
        req.send(text).await.unwrap();
        let request = rep.recv_string().await.unwrap();
        rep.send(request).await.unwrap();
        assert_eq!(req.recv_string().await.unwrap(), text);
    })
    .await;
}

#[tokio::test]
async fn listening_is_seen_after_bind() {
    let rep = Socket::new(SocketType::Rep).unwrap();
    let mut monitor = rep.monitor(EventMask::ALL).unwrap();
    let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap();

    let (listening, before) = wait_for(&mut monitor, Event::Listening).await;
    assert!(before.is_empty(), "events before LISTENING: {before:?}");
    assert_eq!(listening.endpoint, endpoint);
    assert_fd(&listening);
    assert_eq!(monitor.events(), EventMask::ALL);
}

#[tokio::test]
async fn a_tcp_connect_cycle_reports_both_sides() {
    let rep = Socket::new(SocketType::Rep).unwrap();
    let mut binder = rep.monitor(EventMask::ALL).unwrap();
    let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap();
    let req = Socket::new(SocketType::Req).unwrap();
    let mut connector = req.monitor(EventMask::ALL).unwrap();
    req.connect(&endpoint).unwrap();

    // The binder: listening, then the accepted connection and its handshake.
    let (accepted, before) = wait_for(&mut binder, Event::Accepted).await;
    assert_eq!(kinds(&before), [Event::Listening]);
    assert_eq!(accepted.endpoint, endpoint);
    assert_fd(&accepted);
    let (shook, _) = wait_for(&mut binder, Event::HandshakeSucceeded).await;
    assert_eq!(shook.endpoint, endpoint);
    assert_eq!(shook.value, 0);

    // The connector: connected (perhaps after CONNECT_DELAYED), handshake.
    let (connected, before) = wait_for(&mut connector, Event::Connected).await;
    assert!(
        kinds(&before).iter().all(|e| *e == Event::ConnectDelayed),
        "before CONNECTED: {before:?}"
    );
    assert_eq!(connected.endpoint, endpoint);
    assert_fd(&connected);
    let (shook, before) = wait_for(&mut connector, Event::HandshakeSucceeded).await;
    assert!(
        before.is_empty(),
        "between CONNECTED and HANDSHAKE: {before:?}"
    );
    assert_eq!(shook.endpoint, endpoint);

    exchange(&req, &rep, "hello").await;

    // The peer goes away: the binder sees the connection drop, on the same
    // file descriptor it accepted.
    req.close();
    let (disconnected, before) = wait_for(&mut binder, Event::Disconnected).await;
    assert!(before.is_empty(), "before DISCONNECTED: {before:?}");
    assert_eq!(disconnected.endpoint, endpoint);
    assert_eq!(disconnected.value, accepted.value);

    // The connector's monitor ends with its socket, MONITOR_STOPPED last
    // (ALL asks for it).
    let rest = until_end(&mut connector).await;
    assert_eq!(
        rest.last().map(|e| e.event),
        Some(Event::MonitorStopped),
        "{rest:?}"
    );
    assert!(connector.next().await.is_none(), "the stream stays ended");
}

#[tokio::test]
async fn only_requested_events_arrive() {
    let rep = Socket::new(SocketType::Rep).unwrap();
    let mut monitor = rep
        .monitor(EventMask::ACCEPTED | EventMask::DISCONNECTED)
        .unwrap();
    let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap();
    for round in 0..3 {
        let req = Socket::new(SocketType::Req).unwrap();
        req.connect(&endpoint).unwrap();
        exchange(&req, &rep, &format!("round {round}")).await;
        drop(req);
        wait_for(&mut monitor, Event::Disconnected).await;
    }
    rep.close();
    // No LISTENING, HANDSHAKE_SUCCEEDED, CLOSED or MONITOR_STOPPED, although
    // all of them happened.
    let rest = until_end(&mut monitor).await;
    assert!(
        rest.iter()
            .all(|e| e.event == Event::Accepted || e.event == Event::Disconnected),
        "unrequested events: {rest:?}"
    );
}

#[tokio::test]
async fn the_first_event_is_the_first_requested() {
    let rep = Socket::new(SocketType::Rep).unwrap();
    let mut monitor = rep.monitor(EventMask::ACCEPTED).unwrap();
    let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap();
    let req = Socket::new(SocketType::Req).unwrap();
    req.connect(&endpoint).unwrap();
    let first = bounded("first event", Duration::from_secs(10), monitor.next_event())
        .await
        .expect("an event")
        .unwrap();
    assert_eq!(first.event, Event::Accepted, "LISTENING was not asked for");
}

#[tokio::test]
async fn monitor_stopped_is_the_last_item_when_requested() {
    let pull = Socket::new(SocketType::Pull).unwrap();
    let mut monitor = pull
        .monitor(EventMask::LISTENING | EventMask::MONITOR_STOPPED)
        .unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    wait_for(&mut monitor, Event::Listening).await;
    pull.close();
    let rest = until_end(&mut monitor).await;
    assert_eq!(
        kinds(&rest),
        [Event::MonitorStopped],
        "CLOSED was not asked for"
    );
    assert_eq!(rest[0].value, 0);
    assert_eq!(rest[0].endpoint, "");
}

#[tokio::test]
async fn closing_the_socket_ends_the_stream() {
    let router = Socket::new(SocketType::Router).unwrap();
    let mut monitor = router.monitor(EventMask::ALL).unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    let dealer = Socket::new(SocketType::Dealer).unwrap();
    dealer.connect(&endpoint).unwrap();
    wait_for(&mut monitor, Event::HandshakeSucceeded).await;

    router.close();
    let rest = until_end(&mut monitor).await;
    let rest = kinds(&rest);
    assert!(rest.contains(&Event::Closed), "{rest:?}");
    assert_eq!(rest.last(), Some(&Event::MonitorStopped), "{rest:?}");
}

#[tokio::test]
async fn dropping_the_socket_ends_the_stream() {
    let pull = Socket::new(SocketType::Pull).unwrap();
    // Without MONITOR_STOPPED: the stream just ends.
    let mut monitor = pull
        .monitor(EventMask::LISTENING | EventMask::CLOSED)
        .unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    wait_for(&mut monitor, Event::Listening).await;
    drop(pull);
    let rest = until_end(&mut monitor).await;
    assert_eq!(kinds(&rest), [Event::Closed]);
}

#[tokio::test]
async fn monitoring_a_closed_socket_fails() {
    let socket = Socket::new(SocketType::Pair).unwrap();
    socket.close();
    assert!(matches!(socket.monitor(EventMask::ALL), Err(Error::Closed)));
}

#[tokio::test]
async fn monitoring_again_replaces_the_monitor() {
    let pull = Socket::new(SocketType::Pull).unwrap();
    let mut first = pull.monitor(EventMask::ALL).unwrap();
    let mut second = pull.monitor(EventMask::LISTENING).unwrap();

    // The first monitor ends: libzmq stopped it.
    let rest = until_end(&mut first).await;
    assert_eq!(kinds(&rest), [Event::MonitorStopped]);
    // Dropping it must not stop the second.
    drop(first);

    let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
    let (listening, _) = wait_for(&mut second, Event::Listening).await;
    assert_eq!(listening.endpoint, endpoint);

    // Dropping the current monitor stops monitoring; the socket works on,
    // and can be monitored again.
    drop(second);
    let push = Socket::new(SocketType::Push).unwrap();
    push.connect(&endpoint).unwrap();
    bounded(
        "push/pull after the monitors",
        Duration::from_secs(10),
        async {
            push.send("after").await.unwrap();
            assert_eq!(pull.recv_string().await.unwrap(), "after");
        },
    )
    .await;
    let mut third = pull.monitor(EventMask::LISTENING).unwrap();
    let second_endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
    let (listening, _) = wait_for(&mut third, Event::Listening).await;
    assert_eq!(listening.endpoint, second_endpoint);
}

/// Connects and closes DEALERs to `endpoint` until told to stop; counts
/// them.
fn churn(
    ctx: Context,
    endpoint: String,
    stop: Arc<AtomicBool>,
    cycles: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let dealer = ctx.socket(SocketType::Dealer).unwrap();
            dealer.connect(&endpoint).unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
            drop(dealer);
            cycles.fetch_add(1, Ordering::Relaxed);
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_monitor_while_events_flow_leaves_the_socket_working() {
    let ctx = Context::new();
    let rep = ctx.socket(SocketType::Rep).unwrap();
    let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let cycles = Arc::new(AtomicUsize::new(0));
    let churner = churn(ctx.clone(), endpoint.clone(), stop.clone(), cycles.clone());

    for round in 0..30 {
        let mut monitor = rep.monitor(EventMask::ALL).unwrap();
        // Read a few events, then drop the monitor with more on the way.
        for _ in 0..(round % 4) {
            let event = bounded(
                "an event of the churn",
                Duration::from_secs(10),
                monitor.next_event(),
            )
            .await;
            let event = event.expect("monitoring goes on").unwrap();
            assert_eq!(event.endpoint, endpoint, "{event:?}");
        }
        drop(monitor);
    }
    // And a monitor dropped without ever being polled, while the churn
    // goes on for a while.
    drop(rep.monitor(EventMask::ALL).unwrap());
    let before = cycles.load(Ordering::Relaxed);
    bounded("churn after the monitors", Duration::from_secs(10), async {
        while cycles.load(Ordering::Relaxed) < before + 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    bounded("the churn task", Duration::from_secs(10), churner)
        .await
        .unwrap();

    // The monitored socket works.
    let req = ctx.socket(SocketType::Req).unwrap();
    req.connect(&endpoint).unwrap();
    exchange(&req, &rep, "still working").await;
    // And can be monitored again (libzmq's monitor lock is free).
    let mut monitor = rep.monitor(EventMask::ACCEPTED).unwrap();
    let again = ctx.socket(SocketType::Req).unwrap();
    again.connect(&endpoint).unwrap();
    wait_for(&mut monitor, Event::Accepted).await;
    drop(monitor);
    exchange(&again, &rep, "and again").await;
    bounded(
        "context termination",
        Duration::from_secs(10),
        ctx.terminate(),
    )
    .await
    .unwrap();
}

/// The monitored socket is closed and its `Monitor` dropped at once, while
/// libzmq still has its last events to write (CLOSED, DISCONNECTED,
/// MONITOR_STOPPED). Closing the reader then would leave libzmq's PAIR
/// without a peer, and the I/O or reaper thread's next blocking send would
/// never return, stalling every TCP socket of the context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_monitor_of_a_closed_socket_hangs_no_libzmq_thread() {
    let ctx = Context::builder().io_threads(1).build().unwrap();
    for round in 0..50 {
        let router = ctx.socket(SocketType::Router).unwrap();
        let mut monitor = router.monitor(EventMask::ALL).unwrap();
        let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
        let dealers: Vec<Socket> = (0..3)
            .map(|_| {
                let dealer = ctx.socket(SocketType::Dealer).unwrap();
                dealer.connect(&endpoint).unwrap();
                dealer
            })
            .collect();
        if round % 2 == 0 {
            wait_for(&mut monitor, Event::HandshakeSucceeded).await;
        }
        router.close();
        drop(monitor);
        drop(dealers);
    }
    // The context's I/O thread still moves TCP traffic.
    let rep = ctx.socket(SocketType::Rep).unwrap();
    let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap();
    let req = ctx.socket(SocketType::Req).unwrap();
    req.connect(&endpoint).unwrap();
    exchange(&req, &rep, "the I/O thread is free").await;
    // And new monitors still work (nobody holds libzmq's monitor lock).
    let mut monitor = rep.monitor(EventMask::LISTENING).unwrap();
    rep.bind("tcp://127.0.0.1:*").unwrap();
    wait_for(&mut monitor, Event::Listening).await;
    bounded(
        "context termination",
        Duration::from_secs(10),
        ctx.terminate(),
    )
    .await
    .unwrap();
}

/// libzmq writes events with blocking sends, and an inproc pipe's default
/// HWM is 1000 + 1000 messages: a monitor that is not read must still never
/// block the I/O thread that writes to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_monitor_never_blocks_libzmq() {
    const PEERS: usize = 1000;
    const BATCH: usize = 50;
    let ctx = Context::builder().io_threads(1).build().unwrap();
    let router = ctx.socket(SocketType::Router).unwrap();
    let mut monitor = router
        .monitor(EventMask::ACCEPTED | EventMask::HANDSHAKE_SUCCEEDED | EventMask::DISCONNECTED)
        .unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    // Each peer makes three events: 3000 unread ones in all.
    bounded("peers coming and going", Duration::from_secs(60), async {
        for _ in 0..PEERS / BATCH {
            let dealers: Vec<Socket> = (0..BATCH)
                .map(|_| {
                    let dealer = ctx.socket(SocketType::Dealer).unwrap();
                    dealer.connect(&endpoint).unwrap();
                    dealer
                })
                .collect();
            for dealer in &dealers {
                dealer.send("hi").await.unwrap();
            }
            for _ in 0..BATCH {
                router.recv().await.unwrap();
            }
            drop(dealers);
        }
    })
    .await;
    // Every event is there to read.
    let mut accepted = 0;
    let mut disconnected = 0;
    bounded("reading the backlog", Duration::from_secs(30), async {
        while disconnected < PEERS {
            let event = monitor.next_event().await.expect("monitoring goes on");
            match event.unwrap().event {
                Event::Accepted => accepted += 1,
                Event::Disconnected => disconnected += 1,
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(accepted, PEERS);
    drop(monitor);
    bounded(
        "context termination",
        Duration::from_secs(10),
        ctx.terminate(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_stream_ends_when_the_context_shuts_down() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    let mut monitor = pull.monitor(EventMask::ALL).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    wait_for(&mut monitor, Event::Listening).await;
    ctx.shutdown();
    until_end(&mut monitor).await;
    assert!(matches!(
        pull.monitor(EventMask::ALL),
        Err(Error::ContextTerminated)
    ));
    drop(monitor);
    bounded(
        "context termination",
        Duration::from_secs(10),
        ctx.terminate(),
    )
    .await
    .unwrap();
}
