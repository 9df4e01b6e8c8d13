//! Call sequences on which libzmq 4.3.4 itself crashes the process, and the
//! crate's guard against each. Every sequence runs in a child process (the
//! test binary run again, `tests/child`), so a crash fails the test instead
//! of killing the runner. For each, the same sequence is also run on the
//! bare libzmq through the `zmq` crate, to show that the guard is what
//! keeps the process alive: that run is reported, not asserted, since a
//! fixed libzmq would survive it.

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
