//! Bad input gets a clear error, never a panic or a hang (SPEC §2.7).

use std::io;
use std::time::Duration;

use tokio::time::timeout;
use zmq_tokio::errno::{EADDRINUSE, EAGAIN, EFSM, ETERM};
use zmq_tokio::{options, Error, Multipart, Socket, SocketType, TrySendError};

mod support;
use support::{bounded, unique_inproc};

/// Bound on every test body.
const TEST_LIMIT: Duration = Duration::from_secs(10);
/// Bound on an operation that must fail at once rather than wait.
const PROMPT: Duration = Duration::from_secs(2);

/// Asserts `result` is an `InvalidEndpoint` for `endpoint` whose text names
/// the endpoint and contains `reason`.
fn assert_invalid_endpoint<T: std::fmt::Debug>(
    what: &str,
    endpoint: &str,
    result: zmq_tokio::Result<T>,
    reason: &str,
) {
    let err = match result {
        Ok(v) => panic!("{what} {endpoint:?} succeeded: {v:?}"),
        Err(e) => e,
    };
    match &err {
        Error::InvalidEndpoint {
            endpoint: named,
            reason: why,
        } => {
            assert_eq!(named, endpoint, "{what}: wrong endpoint in error");
            assert!(
                why.contains(reason),
                "{what} {endpoint:?}: reason {why:?} does not say {reason:?}"
            );
        }
        other => panic!("{what} {endpoint:?}: expected InvalidEndpoint, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&format!("{endpoint:?}")),
        "{what}: message {text:?} does not name {endpoint:?}"
    );
    assert!(text.contains(reason), "{what}: message {text:?}");
    assert_eq!(err.errno(), None);
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_endpoints_are_rejected_for_bind_and_connect() {
    // (endpoint, reason for bind, reason for connect)
    let cases: &[(&str, &str, &str)] = &[
        (
            "tcp://127.0.0.1:99999",
            "port 99999 is out of range",
            "port 99999 is out of range",
        ),
        ("tcp://127.0.0.1:65536", "out of range", "out of range"),
        ("tcp://127.0.0.1:4294967296", "out of range", "out of range"),
        ("tcp://127.0.0.1", "missing port", "missing port"),
        ("tcp://127.0.0.1:", "missing port", "missing port"),
        ("tcp://:5555", "missing host", "missing host"),
        ("tcp://127.0.0.1:http", "not a number", "not a number"),
        ("tcp://127.0.0.1:-1", "not a number", "not a number"),
        ("tcp://127.0.0.1:5555 ", "not a number", "not a number"),
        ("tcp://[::1:5555", "no closing ]", "no closing ]"),
        (
            "127.0.0.1:5555",
            "expected transport://address",
            "expected transport://address",
        ),
        (
            "",
            "expected transport://address",
            "expected transport://address",
        ),
        ("inproc://", "address is empty", "address is empty"),
        ("tcp://", "address is empty", "address is empty"),
    ];
    let bind = Socket::new(SocketType::Pull).expect("socket");
    let connect = Socket::new(SocketType::Push).expect("socket");
    for &(endpoint, bind_reason, connect_reason) in cases {
        assert_invalid_endpoint("bind", endpoint, bind.bind(endpoint), bind_reason);
        assert_invalid_endpoint(
            "connect",
            endpoint,
            connect.connect(endpoint),
            connect_reason,
        );
    }

    // Wildcards are for bind only.
    for (endpoint, reason) in [
        ("tcp://127.0.0.1:*", "wildcard ports are for bind"),
        ("tcp://127.0.0.1:0", "wildcard ports are for bind"),
        ("tcp://*:5555", "cannot connect to host *"),
        ("ipc://*", "wildcard paths are for bind"),
    ] {
        assert_invalid_endpoint("connect", endpoint, connect.connect(endpoint), reason);
    }
    // A source address is for connect only.
    assert_invalid_endpoint(
        "bind",
        "tcp://127.0.0.1:1;127.0.0.1:2",
        bind.bind("tcp://127.0.0.1:1;127.0.0.1:2"),
        "only for connect",
    );
    // Too long an ipc path.
    let long = format!("ipc:///tmp/{}", "x".repeat(200));
    assert_invalid_endpoint("bind", &long, bind.bind(&long), "limit is 107");

    // A NUL byte: the message shows the endpoint escaped.
    let err = bind.bind("inproc://a\0b").unwrap_err();
    assert!(matches!(err, Error::InvalidEndpoint { .. }), "{err:?}");
    assert!(err.to_string().contains("NUL byte"), "{err}");
    assert!(err.to_string().contains(r#""inproc://a\0b""#), "{err}");

    // Nothing got bound or connected by any of this.
    assert!(bind.try_recv().expect("try_recv").is_none());
    assert!(connect.try_send("x").unwrap_err().is_full());
}

#[tokio::test(flavor = "current_thread")]
async fn tcp_endpoint_with_trailing_path_is_rejected() {
    // Regression: the validator once stripped "/anything" after the port for
    // tcp too (meant for ws/wss paths), and libzmq, reading the port with
    // atoi, silently bound PORT: the "libzmq misreads it" case of SPEC §2.7.
    let probe = Socket::new(SocketType::Pull).expect("socket");
    let free = probe.bind("tcp://127.0.0.1:*").expect("bind");
    let port = free.rsplit(':').next().expect("port").to_owned();
    probe.unbind(&free).expect("unbind");

    let endpoint = format!("tcp://127.0.0.1:{port}/junk");
    let socket = Socket::new(SocketType::Pull).expect("socket");
    let result = socket.bind(&endpoint);
    assert!(
        matches!(result, Err(Error::InvalidEndpoint { .. })),
        "bind {endpoint:?} gave {result:?} instead of InvalidEndpoint"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn unknown_transport_is_named() {
    let socket = Socket::new(SocketType::Pair).expect("socket");
    for (endpoint, transport) in [
        ("foo://bar", "\"foo\""),
        ("tcpp://127.0.0.1:5555", "\"tcpp\""),
        ("TCP://127.0.0.1:5555", "\"TCP\""),
        ("inproc:/x", "expected transport://address"),
    ] {
        assert_invalid_endpoint("bind", endpoint, socket.bind(endpoint), transport);
        assert_invalid_endpoint("connect", endpoint, socket.connect(endpoint), transport);
    }
    let err = socket.bind("foo://bar").unwrap_err().to_string();
    assert!(err.contains("unknown transport"), "{err}");

    // A transport libzmq knows but this build or socket type does not
    // support: libzmq's own error, naming the operation and endpoint.
    for endpoint in ["pgm://127.0.0.1;239.192.1.1:5555", "udp://127.0.0.1:5555"] {
        let err = socket.bind(endpoint).expect_err(endpoint);
        assert!(err.errno().is_some(), "{endpoint}: {err:?}");
        let text = err.to_string();
        assert!(text.contains(endpoint), "{text}");
        assert!(text.contains("bind"), "{text}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn bind_twice_to_one_port_is_eaddrinuse() {
    let first = Socket::new(SocketType::Pull).expect("socket");
    let endpoint = first.bind("tcp://127.0.0.1:*").expect("bind");
    assert!(
        !endpoint.ends_with('*'),
        "wildcard not resolved: {endpoint}"
    );

    for second in [
        Socket::new(SocketType::Pull).expect("socket"),
        // The same socket again.
        first,
    ] {
        let err = second.bind(&endpoint).expect_err("second bind succeeded");
        match &err {
            Error::Zmq {
                errno,
                message,
                operation,
            } => {
                assert_eq!(*errno, EADDRINUSE);
                assert!(!message.is_empty());
                assert!(operation.contains("bind"), "{operation}");
                assert!(operation.contains(&endpoint), "{operation}");
            }
            other => panic!("expected a libzmq error, got {other:?}"),
        }
        assert_eq!(err.errno(), Some(EADDRINUSE));
        let text = err.to_string();
        assert!(text.contains(&format!("bind {endpoint}")), "{text}");
        assert!(text.to_lowercase().contains("in use"), "{text}");
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::AddrInUse);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn subscribe_on_a_socket_that_cannot_is_invalid_option() {
    let cannot_subscribe = SocketType::ALL
        .into_iter()
        .filter(|kind| !matches!(kind, SocketType::Sub | SocketType::XSub));
    for kind in cannot_subscribe {
        let socket = Socket::new(kind).expect("socket");
        for (name, result) in [
            ("SUBSCRIBE", socket.subscribe("topic")),
            ("UNSUBSCRIBE", socket.unsubscribe("topic")),
        ] {
            let err = result.expect_err("subscribe succeeded");
            match &err {
                Error::InvalidOption { option, .. } => assert_eq!(*option, name),
                other => panic!("{kind:?}: expected InvalidOption, got {other:?}"),
            }
            let text = err.to_string();
            assert!(text.contains(name), "{text}");
            assert!(
                text.contains(&kind.to_string()),
                "{text} does not name {kind}"
            );
        }
    }
    // And where it can, it works.
    let sub = Socket::new(SocketType::Sub).expect("sub");
    sub.subscribe("topic").expect("subscribe on SUB");
    sub.unsubscribe("topic").expect("unsubscribe on SUB");
}

fn assert_efsm(what: &str, result: zmq_tokio::Result<impl std::fmt::Debug>, op: &str) {
    let err = match result {
        Ok(v) => panic!("{what} succeeded: {v:?}"),
        Err(e) => e,
    };
    assert_eq!(err.errno(), Some(EFSM), "{what}: {err:?}");
    assert!(
        matches!(&err, Error::Zmq { operation, .. } if operation.contains(op)),
        "{what}: {err:?}"
    );
    // The io::Error keeps the crate's error inside.
    let io_err = io::Error::from(err);
    let inner = io_err
        .get_ref()
        .and_then(|e| e.downcast_ref::<Error>())
        .expect("io::Error wraps zmq_tokio::Error");
    assert_eq!(inner.errno(), Some(EFSM));
}

#[tokio::test(flavor = "current_thread")]
async fn req_rep_out_of_turn_is_efsm_not_a_hang() {
    bounded("test timed out", TEST_LIMIT, async {
        // REQ recv before any send.
        let req = Socket::new(SocketType::Req).expect("req");
        let r = timeout(PROMPT, req.recv()).await.expect("REQ recv hung");
        assert_efsm("REQ recv before send", r, "recv");
        let r = timeout(PROMPT, req.recv_string())
            .await
            .expect("REQ recv hung");
        assert_efsm("REQ recv_string before send", r, "recv");
        assert_efsm("REQ try_recv before send", req.try_recv(), "recv");

        // REP send before any recv.
        let rep = Socket::new(SocketType::Rep).expect("rep");
        let r = timeout(PROMPT, rep.send("reply"))
            .await
            .expect("REP send hung");
        assert_efsm("REP send before recv", r, "send");
        match rep.try_send("reply") {
            Err(TrySendError::Failed(e, back)) => {
                assert_eq!(e.errno(), Some(EFSM));
                assert_eq!(back, Multipart::from("reply"), "message not returned");
            }
            other => panic!("REP try_send before recv: {other:?}"),
        }

        // REQ send twice; REP recv twice.
        let endpoint = unique_inproc("reqrep");
        rep.bind(&endpoint).expect("bind");
        req.connect(&endpoint).expect("connect");
        timeout(PROMPT, req.send("one"))
            .await
            .expect("send hung")
            .expect("first send");
        let r = timeout(PROMPT, req.send("two"))
            .await
            .expect("REQ send hung");
        assert_efsm("REQ second send", r, "send");
        assert_eq!(
            timeout(PROMPT, rep.recv_string())
                .await
                .expect("recv hung")
                .expect("recv"),
            "one"
        );
        let r = timeout(PROMPT, rep.recv()).await.expect("REP recv hung");
        assert_efsm("REP second recv", r, "recv");

        // The sockets still work in turn after the errors.
        rep.send("reply").await.expect("reply");
        assert_eq!(req.recv_string().await.expect("recv reply"), "reply");
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn unbind_or_disconnect_what_was_never_there() {
    let socket = Socket::new(SocketType::Pull).expect("socket");
    let ep = unique_inproc("never");
    assert_invalid_endpoint("unbind", &ep, socket.unbind(&ep), "not bound");
    assert_invalid_endpoint("disconnect", &ep, socket.disconnect(&ep), "not connected");
    for ep in ["tcp://127.0.0.1:5555", "tcp://127.0.0.1:*"] {
        assert_invalid_endpoint("unbind", ep, socket.unbind(ep), "not bound");
    }
    assert_invalid_endpoint(
        "disconnect",
        "tcp://127.0.0.1:5555",
        socket.disconnect("tcp://127.0.0.1:5555"),
        "not connected",
    );
    // Malformed ones are rejected as such.
    assert_invalid_endpoint(
        "unbind",
        "tcp://127.0.0.1:99999",
        socket.unbind("tcp://127.0.0.1:99999"),
        "out of range",
    );

    // Unbinding twice: the second time it is not bound any more.
    let bound = socket.bind("tcp://127.0.0.1:*").expect("bind");
    socket.unbind(&bound).expect("unbind");
    assert_invalid_endpoint("unbind", &bound, socket.unbind(&bound), "not bound");
    // (Bound first: a pending inproc connection cannot be dropped, see
    // tests/inproc_pending.rs.)
    socket.bind(&ep).expect("bind inproc");
    let peer = Socket::new(SocketType::Push).expect("socket");
    peer.connect(&ep).expect("connect");
    peer.disconnect(&ep).expect("disconnect");
    assert_invalid_endpoint("disconnect", &ep, peer.disconnect(&ep), "not connected");
}

#[tokio::test(flavor = "current_thread")]
async fn message_with_zero_frames_is_an_error() {
    bounded("test timed out", TEST_LIMIT, async {
        let endpoint = unique_inproc("empty");
        let pull = Socket::new(SocketType::Pull).expect("pull");
        pull.bind(&endpoint).expect("bind");
        let push = Socket::new(SocketType::Push).expect("push");
        push.connect(&endpoint).expect("connect");

        let err = timeout(PROMPT, push.send(Multipart::new()))
            .await
            .expect("send of an empty message hung")
            .expect_err("empty message sent");
        assert!(matches!(err, Error::InvalidMessage { .. }), "{err:?}");
        assert!(err.to_string().contains("frame"), "{err}");

        let empty: Vec<Vec<u8>> = Vec::new();
        match push.try_send(empty) {
            Err(TrySendError::Failed(Error::InvalidMessage { .. }, back)) => {
                assert!(back.is_empty())
            }
            other => panic!("try_send of no frames: {other:?}"),
        }
        // A frame that is itself empty is fine.
        push.send(Multipart::from(vec![Vec::<u8>::new()]))
            .await
            .expect("one empty frame");
        push.send("after").await.expect("send");
        let msg = timeout(PROMPT, pull.recv())
            .await
            .expect("hung")
            .expect("recv");
        assert_eq!(msg.len(), 1);
        assert!(msg[0].is_empty());
        assert_eq!(
            timeout(PROMPT, pull.recv_string())
                .await
                .expect("hung")
                .expect("recv"),
            "after"
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn recv_helpers_reject_wrong_shapes_and_consume_the_message() {
    bounded("test timed out", TEST_LIMIT, async {
        let endpoint = unique_inproc("shapes");
        let pull = Socket::new(SocketType::Pull).expect("pull");
        pull.bind(&endpoint).expect("bind");
        let push = Socket::new(SocketType::Push).expect("push");
        push.connect(&endpoint).expect("connect");

        push.send(["a", "b"]).await.expect("send");
        push.send(vec![0xffu8, 0xfe, b'x']).await.expect("send");
        push.send(["c", "d", "e"]).await.expect("send");
        push.send("next").await.expect("send");
        push.send(vec![0xc3u8]).await.expect("send"); // truncated UTF-8
        push.send("last").await.expect("send");

        let expect_invalid = |r: zmq_tokio::Result<_>, says: &str| {
            let err: Error = match r {
                Ok(v) => panic!("expected InvalidMessage, got {v:?}"),
                Err(e) => e,
            };
            assert!(matches!(err, Error::InvalidMessage { .. }), "{err:?}");
            let text = err.to_string();
            assert!(text.contains(says), "{text:?} does not say {says:?}");
            assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidData);
        };
        expect_invalid(
            timeout(PROMPT, pull.recv_string()).await.expect("hung"),
            "2 frames",
        );
        expect_invalid(
            timeout(PROMPT, pull.recv_string()).await.expect("hung"),
            "UTF-8",
        );
        let r = timeout(PROMPT, pull.recv_bytes()).await.expect("hung");
        expect_invalid(r.map(|b| format!("{b:?}")), "3 frames");
        assert_eq!(
            timeout(PROMPT, pull.recv_bytes())
                .await
                .expect("hung")
                .expect("recv_bytes"),
            &b"next"[..]
        );
        expect_invalid(
            timeout(PROMPT, pull.recv_string()).await.expect("hung"),
            "UTF-8",
        );
        assert_eq!(
            timeout(PROMPT, pull.recv_string())
                .await
                .expect("hung")
                .expect("recv"),
            "last"
        );
        assert!(pull.try_recv().expect("try_recv").is_none());
    })
    .await;
}

fn assert_invalid_option(what: &str, result: zmq_tokio::Result<()>, name: &str, says: &str) {
    let err = result.expect_err(what);
    match &err {
        Error::InvalidOption { option, .. } => assert_eq!(*option, name, "{what}"),
        other => panic!("{what}: expected InvalidOption, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(name), "{what}: {text}");
    assert!(
        text.contains(says),
        "{what}: {text:?} does not say {says:?}"
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "current_thread")]
async fn options_read_only_write_only_and_out_of_range() {
    let push = Socket::new(SocketType::Push).expect("push");

    // Read-only options cannot be set.
    assert_invalid_option(
        "set LAST_ENDPOINT",
        push.set(options::LAST_ENDPOINT, "tcp://x:1"),
        "LAST_ENDPOINT",
        "read-only",
    );
    assert_invalid_option(
        "set RCVMORE",
        push.set(options::RCVMORE, true),
        "RCVMORE",
        "read-only",
    );
    assert_invalid_option("set FD", push.set(options::FD, 3), "FD", "read-only");
    assert_invalid_option("set TYPE", push.set(options::TYPE, 1), "TYPE", "read-only");

    // Write-only options cannot be read.
    let router = Socket::new(SocketType::Router).expect("router");
    let req = Socket::new(SocketType::Req).expect("req");
    let xpub = Socket::new(SocketType::XPub).expect("xpub");
    let cases = [
        (
            "ROUTER_MANDATORY",
            router.get(options::ROUTER_MANDATORY).map(drop),
        ),
        ("REQ_RELAXED", req.get(options::REQ_RELAXED).map(drop)),
        ("REQ_CORRELATE", req.get(options::REQ_CORRELATE).map(drop)),
        ("XPUB_VERBOSE", xpub.get(options::XPUB_VERBOSE).map(drop)),
        ("XPUB_NODROP", xpub.get(options::XPUB_NODROP).map(drop)),
    ];
    for (name, result) in cases {
        assert_invalid_option(&format!("get {name}"), result, name, "write-only");
    }

    // Every option's access flags agree with what set/get allow.
    for info in options::all() {
        assert!(info.readable || info.writable, "{} is neither", info.name);
    }

    // Values libzmq rejects, and options of another socket type.
    let long_id = vec![b'x'; 256];
    let out_of_range: Vec<(&str, zmq_tokio::Result<()>)> = vec![
        ("ROUTING_ID", push.set(options::ROUTING_ID, Vec::new())),
        ("ROUTING_ID", push.set(options::ROUTING_ID, long_id)),
        ("SNDHWM", push.set(options::SNDHWM, -1)),
        ("RCVHWM", push.set(options::RCVHWM, -1)),
        ("LINGER", push.set(options::LINGER, -2)),
        ("RCVTIMEO", push.set(options::RCVTIMEO, -2)),
        ("SNDTIMEO", push.set(options::SNDTIMEO, -2)),
        ("RECONNECT_IVL", push.set(options::RECONNECT_IVL, -2)),
        ("BACKLOG", push.set(options::BACKLOG, -1)),
        ("SNDBUF", push.set(options::SNDBUF, -2)),
        (
            "ROUTER_MANDATORY",
            push.set(options::ROUTER_MANDATORY, true),
        ),
        ("XPUB_VERBOSE", push.set(options::XPUB_VERBOSE, true)),
        ("REQ_RELAXED", push.set(options::REQ_RELAXED, true)),
    ];
    for (name, result) in out_of_range {
        assert_invalid_option(&format!("set {name}"), result, name, "PUSH");
    }

    // The rejected values left the old ones in place, and good values work.
    assert_eq!(push.get(options::SNDHWM).expect("get"), 1000);
    assert_eq!(
        push.get(options::LINGER).expect("get"),
        zmq_tokio::DEFAULT_LINGER_MS
    );
    push.set(options::ROUTING_ID, vec![b'y'; 255])
        .expect("255-byte routing id");
    assert_eq!(push.get(options::ROUTING_ID).expect("get").len(), 255);
    push.set(options::ROUTING_ID, b"a")
        .expect("1-byte routing id");
}

#[test]
fn socket_outside_a_runtime_is_no_runtime() {
    let r = Socket::new(SocketType::Pair);
    assert!(matches!(r, Err(Error::NoRuntime)), "{r:?}");
    let text = Error::NoRuntime.to_string();
    assert!(text.contains("runtime"), "{text}");
}

#[test]
fn socket_in_a_runtime_without_io_is_an_error_not_a_panic() {
    // Regression: registering the fd in a runtime built without enable_io
    // panics inside tokio ("IO is disabled"); the crate catches that and
    // returns Error::NoRuntime, as its docs promise.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let outcome =
        std::panic::catch_unwind(|| rt.block_on(async { Socket::new(SocketType::Pair).map(drop) }));
    match outcome {
        Ok(Err(Error::NoRuntime)) => {}
        Ok(other) => panic!("expected Err(NoRuntime), got {other:?}"),
        Err(_) => panic!("Socket::new panicked in a runtime without I/O"),
    }
}

/// Set in the child process that `runtime_without_io_prints_nothing` runs.
const CHILD_NO_IO: &str = "ZMQ_TOKIO_TEST_CHILD_NO_IO";

#[test]
fn runtime_without_io_prints_nothing() {
    // Tokio panics when asked to register an fd in a runtime without I/O;
    // the crate catches that panic, and the panic hook must not print it.
    // Runs in a child process (this same test binary) so that its stderr,
    // with the default panic hook, can be read whole.
    if std::env::var_os(CHILD_NO_IO).is_some() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let r = rt.block_on(async { Socket::new(SocketType::Pair).map(drop) });
        assert!(matches!(r, Err(Error::NoRuntime)), "{r:?}");
        // A panic elsewhere afterwards still prints: the hook is not lost.
        let _ = std::panic::catch_unwind(|| panic!("a later panic"));
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "runtime_without_io_prints_nothing",
            "--nocapture",
        ])
        .env(CHILD_NO_IO, "1")
        .output()
        .expect("run the child test");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert!(!stderr.contains("IO is disabled"), "printed: {stderr}");
    assert!(
        stderr.contains("a later panic"),
        "later panic not printed: {stderr}"
    );
}

#[test]
fn waiting_after_the_runtime_is_gone_is_runtime_shutdown() {
    // A socket waits on the reactor of the runtime it was created in: once
    // that runtime is dropped, a wait fails with a clear error.
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pull = first
        .block_on(async { Socket::new(SocketType::Pull) })
        .expect("pull");
    drop(first);
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let r = second.block_on(async { timeout(PROMPT, pull.recv()).await });
    let err = match r {
        Ok(Err(e)) => e,
        other => panic!("expected an error at once, got {other:?}"),
    };
    assert!(matches!(err, Error::RuntimeShutdown), "{err:?}");
    assert!(err.to_string().contains("runtime"), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn errors_convert_to_io_errors_and_report_errno() {
    // Error is a well-behaved error type.
    fn is_error<E: std::error::Error + Send + Sync + 'static>() {}
    is_error::<Error>();
    is_error::<TrySendError>();

    // TrySendError::Full becomes EAGAIN / WouldBlock, message intact.
    let push = Socket::new(SocketType::Push).expect("push"); // no peer: full
    let err = push.try_send(["a", "b"]).expect_err("sent with no peer");
    assert!(err.is_full());
    assert!(!err.to_string().is_empty());
    let back = match err {
        TrySendError::Full(ref m) => m.clone(),
        ref other => panic!("{other:?}"),
    };
    assert_eq!(back, Multipart::from(["a", "b"]));
    assert_eq!(err.into_inner(), back);
    let err = Error::from(push.try_send("c").unwrap_err());
    assert_eq!(err.errno(), Some(EAGAIN));
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::WouldBlock);

    // Table: error -> (errno, io kind).
    let invalid_endpoint = push.bind("foo://bar").unwrap_err();
    let invalid_option = push.set(options::TYPE, 1).unwrap_err();
    let taken = Socket::new(SocketType::Pull).expect("pull");
    let ep = taken.bind("tcp://127.0.0.1:*").expect("bind");
    let addr_in_use = push.bind(&ep).unwrap_err();
    let table: Vec<(Error, Option<i32>, io::ErrorKind)> = vec![
        (Error::Closed, None, io::ErrorKind::NotConnected),
        (
            Error::ContextTerminated,
            Some(ETERM),
            io::ErrorKind::BrokenPipe,
        ),
        (Error::Timeout, None, io::ErrorKind::TimedOut),
        (invalid_endpoint, None, io::ErrorKind::InvalidInput),
        (invalid_option, None, io::ErrorKind::InvalidInput),
        (addr_in_use, Some(EADDRINUSE), io::ErrorKind::AddrInUse),
    ];
    for (err, errno, kind) in table {
        assert_eq!(err.errno(), errno, "{err:?}");
        let text = err.to_string();
        let io_err = io::Error::from(err);
        assert_eq!(io_err.kind(), kind, "{text}");
        assert_eq!(io_err.to_string(), text, "io::Error changed the message");
    }

    // EFSM has no std equivalent: the io::Error still carries it.
    let req = Socket::new(SocketType::Req).expect("req");
    let efsm = req.try_recv().unwrap_err();
    assert_eq!(efsm.errno(), Some(EFSM));
    let text = efsm.to_string();
    assert!(
        text.starts_with("recv failed: EFSM (operation cannot be accomplished in current state): "),
        "{text}"
    );
    assert!(text.contains("REQ must alternate send then recv"), "{text}");
    let io_err = io::Error::from(efsm);
    assert_eq!(io_err.to_string(), text);
    assert!(
        !matches!(
            io_err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::NotFound | io::ErrorKind::InvalidInput
        ),
        "misleading kind {:?}",
        io_err.kind()
    );
}
