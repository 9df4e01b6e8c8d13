//! Call sequences on which libzmq 4.3.4 itself crashes the process, and the
//! crate's guard against each. Every sequence runs in a child process (the
//! test binary run again, `tests/child`), so a crash fails the test instead
//! of killing the runner. For each, the same sequence is also run on the
//! bare libzmq through the `zmq` crate, to show that the guard is what
//! keeps the process alive: that run is reported, not asserted, since a
//! fixed libzmq would survive it.
//!
//! The last test is a crash no call can be refused against, since a
//! connection's timing decides it (libzmq #3442): it reports the crash,
//! bare and through the crate, and asserts that the order of closing the
//! crate's docs advise avoids it.

mod child;

use std::time::Duration;

use zmq_tokio::{options, Context, Error, SocketType};

/// How many times the HWM children repeat the sequence.
const ROUNDS: usize = 200;

/// `err` is the crate's refusal of `option`, and says `says` if given.
fn assert_refused(err: &Error, option: &str, says: Option<&str>) {
    assert!(
        matches!(err, Error::InvalidOption { option: refused, .. } if *refused == option),
        "{err}"
    );
    if let Some(says) = says {
        assert!(err.to_string().contains(says), "{err}");
    }
}

/// A current-thread runtime for a child's sequence.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The body of each test: as the child `bare`, runs `bare` (the sequence
/// on bare libzmq); as the child `crate`, runs `guarded` (through
/// zmq-tokio); as the parent, runs both children, reports the first and
/// asserts that the second exits 0.
fn bare_and_guarded(test: &str, what: &str, bare: fn(), guarded: fn()) {
    match child::scenario().as_deref() {
        Some("bare") => return bare(),
        Some("crate") => return guarded(),
        Some(other) => panic!("unknown scenario {other}"),
        None => {}
    }
    let bare = child::run(child::command(test, "bare"), Duration::from_secs(60));
    println!("{what}, bare libzmq: {}", bare.describe());
    let guarded = child::run(child::command(test, "crate"), Duration::from_secs(60));
    println!("{what}, through zmq-tokio: {}", guarded.describe());
    guarded.assert_success(what);
}

/// libzmq #4524 (fixed after 4.3.5): a pipe that has acknowledged its
/// peer's termination still sends that peer the new high-water marks when
/// `SNDHWM`/`RCVHWM` change, and the peer has freed itself on the ack. Here
/// the peer is an inproc binder that closed: the connector processes the
/// pipe's termination (`events`) and then changes its `SNDHWM`.
fn hwm_bare() {
    for _ in 0..ROUNDS {
        let ctx = zmq::Context::new();
        let binder = ctx.socket(zmq::PAIR).unwrap();
        binder.bind("inproc://hwm").unwrap();
        let connector = ctx.socket(zmq::PAIR).unwrap();
        connector.connect("inproc://hwm").unwrap();
        drop(binder);
        std::thread::sleep(Duration::from_millis(1));
        let _ = connector.get_events();
        let _ = connector.set_sndhwm(10);
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The same sequence through the crate: the change is refused, the process
/// lives.
fn hwm_guarded() {
    current_thread().block_on(async {
        for _ in 0..ROUNDS {
            let ctx = Context::new();
            let binder = ctx.socket(SocketType::Pair).unwrap();
            binder.bind("inproc://hwm").unwrap();
            let connector = ctx.socket(SocketType::Pair).unwrap();
            connector.connect("inproc://hwm").unwrap();
            drop(binder);
            tokio::time::sleep(Duration::from_millis(1)).await;
            let _ = connector.events();
            let err = connector.set(options::SNDHWM, 10).unwrap_err();
            assert_refused(&err, "SNDHWM", Some("#4524"));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
}

#[test]
fn hwm_change_after_a_peer_left_does_not_crash() {
    bare_and_guarded(
        "hwm_change_after_a_peer_left_does_not_crash",
        "SNDHWM changed after the peer left",
        hwm_bare,
        hwm_guarded,
    );
}

/// A "SOCKS proxy" on 127.0.0.1 that accepts each connection and closes
/// it at once, failing every SOCKS exchange. Returns its `host:port`.
fn refusing_proxy() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    addr
}

/// libzmq 4.3.4 (and master): when the SOCKS exchange fails,
/// `socks_connecter_t::error` removes the connecter's poll entry without
/// clearing its handle, and the connecter removes it again when it
/// terminates (a disconnect, a close): a use-after-free that aborts with
/// `Bad file descriptor (epoll.cpp:113)` or corrupts memory.
fn socks_bare() {
    let proxy = refusing_proxy();
    let ctx = zmq::Context::new();
    let dealer = ctx.socket(zmq::DEALER).unwrap();
    dealer.set_socks_proxy(Some(&proxy)).unwrap();
    dealer.set_reconnect_ivl(10).unwrap();
    dealer.connect("tcp://127.0.0.1:9").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    dealer.disconnect("tcp://127.0.0.1:9").unwrap();
    let _ = dealer.get_events();
    std::thread::sleep(Duration::from_millis(300));
}

/// Through the crate, the proxy is refused with words that say why.
fn socks_guarded() {
    let proxy = refusing_proxy();
    current_thread().block_on(async {
        let ctx = Context::new();
        let dealer = ctx.socket(SocketType::Dealer).unwrap();
        let err = dealer.set(options::SOCKS_PROXY, proxy).unwrap_err();
        assert_refused(&err, "SOCKS_PROXY", Some("crashes the process"));
        assert_eq!(dealer.get(options::SOCKS_PROXY).unwrap(), "");
        dealer.connect("tcp://127.0.0.1:9").unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        dealer.disconnect("tcp://127.0.0.1:9").unwrap();
        let _ = dealer.events();
    });
}

#[test]
fn socks_proxy_refusing_then_disconnect_does_not_crash() {
    bare_and_guarded(
        "socks_proxy_refusing_then_disconnect_does_not_crash",
        "a SOCKS proxy that refuses, then disconnect",
        socks_bare,
        socks_guarded,
    );
}

/// libzmq 4.3.4 lets a REP socket (a ROUTER inside) take `ROUTER_RAW`.
/// Its next receive copies the request's envelope into the reply pipe, and
/// in raw mode the empty delimiter frame closes that pipe, which is also
/// the one the request is being read from: `Assertion failed: !_more
/// (fq.cpp:112)`. Found by the operation fuzzer (seed
/// 4573919081763868741).
///
/// The `zmq` crate has no setter for `ROUTER_RAW`, so the bare run is
/// pyzmq's (its own libzmq; the interop tests need it too), and a python
/// killed by a signal shows as 128 + the signal (134: SIGABRT).
fn router_raw_bare() {
    const SCRIPT: &str = "import zmq\n\
        ctx = zmq.Context()\n\
        rep = ctx.socket(zmq.REP); rep.bind('inproc://raw')\n\
        req = ctx.socket(zmq.REQ); req.connect('inproc://raw')\n\
        req.send(b'request')\n\
        rep.setsockopt(zmq.ROUTER_RAW, 1)\n\
        rep.recv()\n";
    match std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .status()
    {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            // As a shell says it: 128 + the signal that killed python.
            let code = status
                .signal()
                .map_or(status.code().unwrap_or(1), |s| 128 + s);
            std::process::exit(code);
        }
        Err(e) => panic!("python3 not run: {e}"),
    }
}

/// Through the crate, a REP refuses `ROUTER_RAW` and answers as usual.
fn router_raw_guarded() {
    current_thread().block_on(async {
        let ctx = Context::new();
        let rep = ctx.socket(SocketType::Rep).unwrap();
        rep.bind("inproc://raw").unwrap();
        let req = ctx.socket(SocketType::Req).unwrap();
        req.connect("inproc://raw").unwrap();
        req.send("request").await.unwrap();
        let err = rep.set(options::ROUTER_RAW, true).unwrap_err();
        assert_refused(&err, "ROUTER_RAW", None);
        let limit = Duration::from_secs(5);
        let request = tokio::time::timeout(limit, rep.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(request, zmq_tokio::Multipart::from("request"));
        rep.send("reply").await.unwrap();
        let reply = tokio::time::timeout(limit, req.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply, zmq_tokio::Multipart::from("reply"));
    });
}

#[test]
fn router_raw_on_rep_does_not_crash() {
    bare_and_guarded(
        "router_raw_on_rep_does_not_crash",
        "ROUTER_RAW on a REP, then a receive",
        router_raw_bare,
        router_raw_guarded,
    );
}

/// How long each child of the LINGER test races.
const RACE_FOR: Duration = Duration::from_secs(5);

/// Kernel buffers of the LINGER test's sockets: small, so that a few
/// messages back the connection up.
const BUFFER: i32 = 16 * 1024;

/// The three frames the LINGER test sends: a long middle frame, so that
/// libzmq's engine often stops (its 8 KiB batch full) between two frames
/// of a message.
fn three_frames() -> [Vec<u8>; 3] {
    [b"seq".to_vec(), vec![7u8; 3000], b"end".to_vec()]
}

/// Sends until the connection is backed up: `try_send` (true when it sent
/// a message) has found no room for 5 ms. Nothing tells when libzmq's
/// engine and the kernel's buffers are full, so this polls; it blocks the
/// thread, which in the crate's child runs nothing else.
fn fill(mut try_send: impl FnMut() -> bool) {
    let mut last_sent = std::time::Instant::now();
    while last_sent.elapsed() < Duration::from_millis(5) {
        if try_send() {
            last_sent = std::time::Instant::now();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// libzmq #3442 (unfixed upstream), which no call can be refused against:
/// a PUSH closed with `LINGER` 0 while its engine has written part of a
/// multipart message to the connection drops the rest of it, and if the
/// connection fails before the session has ended (here: its PULL peer
/// closes at the same moment), `session_base_t::clean_pipes` asserts that
/// the rest can still be read, and aborts (`Resource temporarily
/// unavailable (session_base.cpp:260)`). The bare run closes both at once,
/// round after round, until it aborts or [`RACE_FOR`] has passed.
fn linger_bare() {
    let ctx = zmq::Context::new();
    ctx.set_io_threads(2).unwrap();
    let started = std::time::Instant::now();
    let mut rounds = 0u32;
    while started.elapsed() < RACE_FOR {
        let pull = ctx.socket(zmq::PULL).unwrap();
        pull.set_linger(0).unwrap();
        pull.set_rcvhwm(10).unwrap();
        pull.set_rcvbuf(BUFFER).unwrap();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.get_last_endpoint().unwrap().unwrap();
        let push = ctx.socket(zmq::PUSH).unwrap();
        push.set_linger(0).unwrap();
        push.set_sndhwm(10).unwrap();
        push.set_sndbuf(BUFFER).unwrap();
        push.connect(&endpoint).unwrap();
        push.send_multipart(three_frames(), 0).unwrap();
        pull.recv_multipart(0).unwrap();
        fill(
            || match push.send_multipart(three_frames(), zmq::DONTWAIT) {
                Ok(()) => true,
                Err(zmq::Error::EAGAIN) => false,
                Err(e) => panic!("send: {e}"),
            },
        );
        let together = std::sync::Arc::new(std::sync::Barrier::new(2));
        let peer = {
            let together = together.clone();
            std::thread::spawn(move || {
                together.wait();
                drop(pull);
            })
        };
        together.wait();
        drop(push);
        peer.join().unwrap();
        rounds += 1;
    }
    println!("{rounds} rounds without an abort");
}

/// The same through the crate: with `together`, both close at once, as in
/// the bare run; else in the order its docs advise (`options::LINGER`): the
/// PUSH closes first, and the PULL, draining what arrives, closes once the
/// PUSH's connection is gone.
fn linger_crate(together: bool) {
    current_thread().block_on(async {
        let ctx = Context::builder().io_threads(2).build().unwrap();
        let started = std::time::Instant::now();
        let mut rounds = 0u32;
        while started.elapsed() < RACE_FOR {
            let pull = ctx.socket(SocketType::Pull).unwrap();
            pull.set(options::LINGER, 0).unwrap();
            pull.set(options::RCVHWM, 10).unwrap();
            pull.set(options::RCVBUF, BUFFER).unwrap();
            let mut monitor = pull.monitor(zmq_tokio::EventMask::DISCONNECTED).unwrap();
            let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
            let push = ctx.socket(SocketType::Push).unwrap();
            push.set(options::LINGER, 0).unwrap();
            push.set(options::SNDHWM, 10).unwrap();
            push.set(options::SNDBUF, BUFFER).unwrap();
            push.connect(&endpoint).unwrap();
            push.send(three_frames()).await.unwrap();
            pull.recv().await.unwrap();
            fill(|| match push.try_send(three_frames()) {
                Ok(()) => true,
                Err(zmq_tokio::TrySendError::Full(_)) => false,
                Err(e) => panic!("send: {e}"),
            });
            if together {
                let both = std::sync::Arc::new(std::sync::Barrier::new(2));
                let peer = {
                    let both = both.clone();
                    std::thread::spawn(move || {
                        both.wait();
                        pull.close();
                    })
                };
                both.wait();
                push.close();
                peer.join().unwrap();
            } else {
                push.close();
                let gone = async {
                    loop {
                        tokio::select! {
                            event = monitor.next_event() => {
                                let event = event.expect("monitor ended").unwrap();
                                if event.event == zmq_tokio::Event::Disconnected {
                                    return;
                                }
                            }
                            msg = pull.recv() => {
                                assert_eq!(msg.unwrap().len(), 3, "a torn message");
                            }
                        }
                    }
                };
                tokio::time::timeout(Duration::from_secs(10), gone)
                    .await
                    .expect("the PUSH's connection still open 10 s after its close");
                drop(pull);
            }
            rounds += 1;
        }
        println!("{rounds} rounds, 0 aborts");
    });
}

#[test]
fn a_multipart_sender_closed_before_its_peer_does_not_crash() {
    const TEST: &str = "a_multipart_sender_closed_before_its_peer_does_not_crash";
    match child::scenario().as_deref() {
        Some("bare") => return linger_bare(),
        Some("together") => return linger_crate(true),
        Some("ordered") => return linger_crate(false),
        Some(other) => panic!("unknown scenario {other}"),
        None => {}
    }
    let what = "a LINGER 0 PUSH closed while its connection is backed up";
    // The child's own line, without the test harness's.
    let rounds = |out: &child::Outcome| {
        let line = out.stdout.lines().find(|l| l.contains("rounds"));
        line.map(|l| l.rsplit("... ").next().unwrap_or(l).to_string())
            .unwrap_or_default()
    };
    for (scenario, how) in [
        ("bare", "its peer closing at the same moment, bare libzmq"),
        ("together", "the same through zmq-tokio"),
    ] {
        let out = child::run(child::command(TEST, scenario), Duration::from_secs(60));
        println!("{what}, {how}: {} {}", out.describe(), rounds(&out));
    }
    let ordered = child::run(child::command(TEST, "ordered"), Duration::from_secs(60));
    println!(
        "{what}, its peer closing after it, through zmq-tokio: {} {}",
        ordered.describe(),
        rounds(&ordered)
    );
    ordered.assert_success(what);
}
