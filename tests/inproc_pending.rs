//! Pending inproc connections (a connect before anything binds the
//! endpoint): no sequence of calls on them may crash the process. libzmq
//! 4.3 aborts or reads freed memory when a pending inproc connection is
//! dropped with `zmq_disconnect`/`zmq_unbind` and the endpoint is bound
//! later (or the context terminates); the crate refuses that drop. Each
//! scenario runs in a child process, so a crash fails the test instead of
//! killing the runner.

mod child;

use std::time::Duration;

use zmq_tokio::{Context, Error, SocketType};

const TEST: &str = "scenarios_do_not_crash";

/// A socket of `kind` once the context has a slot for it: closed sockets
/// free theirs shortly after their close, on libzmq's reaper thread. Fails
/// the scenario (naming `round`) if none comes back by `deadline`.
async fn socket_when_room(
    ctx: &Context,
    kind: SocketType,
    deadline: std::time::Instant,
    round: usize,
) -> zmq_tokio::Socket {
    loop {
        match ctx.socket(kind) {
            Ok(socket) => return socket,
            Err(e) if std::time::Instant::now() > deadline => {
                panic!("round {round}: no slot came back: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

fn run_scenario(name: &str) -> zmq_tokio::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let ctx = Context::new();
        match name {
            // The sequence from the issue.
            "router-disconnect-bind" | "rep-disconnect-bind" | "pull-disconnect-bind"
            | "sub-disconnect-bind" => {
                let kind = match name {
                    "router-disconnect-bind" => SocketType::Router,
                    "rep-disconnect-bind" => SocketType::Rep,
                    "pull-disconnect-bind" => SocketType::Pull,
                    _ => SocketType::Sub,
                };
                let a = ctx.socket(kind)?;
                a.connect("inproc://x")?;
                let r = a.disconnect("inproc://x");
                assert!(
                    matches!(&r, Err(Error::InvalidEndpoint { reason, .. }) if reason.contains("pending")),
                    "{r:?}"
                );
                let _ = a.events();
                let b = ctx.socket(SocketType::Dealer)?;
                b.bind("inproc://x")?;
                let _ = a.events();
                let _ = b.events();
                // Bound now: the connection is real and can be dropped.
                a.disconnect("inproc://x")?;
                let _ = a.events();
                let c = ctx.socket(SocketType::Dealer)?;
                assert!(c.bind("inproc://x").is_err(), "b still binds it");
            }
            "router-unbind-bind" => {
                let a = ctx.socket(SocketType::Router)?;
                a.connect("inproc://x")?;
                let r = a.unbind("inproc://x");
                assert!(matches!(r, Err(Error::InvalidEndpoint { .. })), "{r:?}");
                let _ = a.events();
                let b = ctx.socket(SocketType::Dealer)?;
                b.bind("inproc://x")?;
            }
            "router-disconnect-terminate" => {
                let a = ctx.socket(SocketType::Router)?;
                a.connect("inproc://x")?;
                let r = a.disconnect("inproc://x");
                assert!(matches!(r, Err(Error::InvalidEndpoint { .. })), "{r:?}");
                let _ = a.events();
                drop(a);
                ctx.terminate().await?;
            }
            "router-close-bind" | "sub-close-bind" => {
                let kind = if name.starts_with("sub") {
                    SocketType::Sub
                } else {
                    SocketType::Router
                };
                let a = ctx.socket(kind)?;
                a.connect("inproc://x")?;
                a.close();
                tokio::time::sleep(Duration::from_millis(50)).await;
                let b = ctx.socket(SocketType::Dealer)?;
                b.bind("inproc://x")?;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = b.events();
            }
            "sub-close-terminate" | "router-close-terminate" => {
                let kind = if name.starts_with("sub") {
                    SocketType::Sub
                } else {
                    SocketType::Router
                };
                let a = ctx.socket(kind)?;
                a.connect("inproc://x")?;
                drop(a);
                tokio::time::sleep(Duration::from_millis(50)).await;
                ctx.terminate().await?;
            }
            "self-connect-bind" => {
                let a = ctx.socket(SocketType::Pair)?;
                a.connect("inproc://x")?;
                a.bind("inproc://x")?;
                let _ = a.events();
                // The bind attached the pending connection (to itself).
                a.disconnect("inproc://x")?;
                let _ = a.events();
            }
            "bound-disconnect-rebind" => {
                let a = ctx.socket(SocketType::Router)?;
                let b = ctx.socket(SocketType::Dealer)?;
                b.bind("inproc://x")?;
                a.connect("inproc://x")?;
                // For inproc, libzmq's disconnect of a bound endpoint unbinds it.
                b.disconnect("inproc://x")?;
                let c = ctx.socket(SocketType::Dealer)?;
                c.bind("inproc://x")?;
                // a's connection was made to b, so it is not pending.
                a.disconnect("inproc://x")?;
                let _ = a.events();
                // A connect to c's endpoint is not pending either.
                a.connect("inproc://x")?;
                a.disconnect("inproc://x")?;
            }
            "closed-binder" => {
                // A binder that is closed no longer counts: a connect after
                // it is treated as pending, and its disconnect refused.
                let b = ctx.socket(SocketType::Dealer)?;
                b.bind("inproc://x")?;
                b.close();
                let a = ctx.socket(SocketType::Router)?;
                a.connect("inproc://x")?;
                assert!(a.disconnect("inproc://x").is_err());
                tokio::time::sleep(Duration::from_millis(50)).await;
                let c = ctx.socket(SocketType::Dealer)?;
                c.bind("inproc://x")?;
                a.disconnect("inproc://x")?;
                let _ = a.events();
            }
            "pair-with-peer-binds-router-pending" | "pair-binds-two-pending" => {
                // Found by tests/fuzz.rs: the PAIR keeps one pipe and
                // terminates the ROUTER's; libzmq then writes the PAIR's
                // routing id into it.
                let r = ctx.socket(SocketType::Router)?;
                r.connect("inproc://x")?;
                let p = ctx.socket(SocketType::Pair)?;
                let second = ctx.socket(SocketType::Dealer)?;
                if name == "pair-with-peer-binds-router-pending" {
                    p.connect("tcp://127.0.0.1:1")?;
                } else {
                    second.connect("inproc://x")?;
                }
                let r = p.bind("inproc://x");
                assert!(matches!(r, Err(Error::InvalidEndpoint { .. })), "{r:?}");
                // Another binder takes them.
                let d = ctx.socket(SocketType::Dealer)?;
                d.bind("inproc://x")?;
            }
            "dealer-binds-closed-pending" | "dealer-binds-mixed-pending" => {
                // Found by tests/fuzz.rs: libzmq reads the closed
                // connector's routing id out of its terminating pipe.
                let s = ctx.socket(SocketType::Sub)?;
                s.connect("inproc://x")?;
                drop(s);
                let open = ctx.socket(SocketType::Sub)?;
                if name.contains("mixed") {
                    open.connect("inproc://x")?;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                let d = ctx.socket(SocketType::Pub)?;
                let r = d.bind("inproc://x");
                if name.contains("mixed") {
                    assert!(matches!(r, Err(Error::InvalidEndpoint { .. })), "{r:?}");
                    let router = ctx.socket(SocketType::Router)?;
                    router.bind("inproc://x")?;
                } else {
                    r?;
                }
                drop(open);
                ctx.terminate().await?;
            }
            "absorbed-connectors-free-their-slots" => {
                // A closed connector whose pending connection the context's
                // own ROUTER took is destroyed only once that ROUTER has
                // processed the pipe's end: its slot must come back, again
                // and again, in a context with room for few sockets.
                let ctx = Context::builder().max_sockets(8).build()?;
                for round in 0..40 {
                    let endpoint = format!("inproc://absorbed-{round}");
                    // Closed sockets free their slot shortly after: wait
                    // (bounded) for room.
                    let deadline = std::time::Instant::now() + Duration::from_secs(5);
                    let sub = socket_when_room(&ctx, SocketType::Sub, deadline, round).await;
                    sub.connect(&endpoint)?;
                    drop(sub);
                    let publisher = socket_when_room(&ctx, SocketType::Pub, deadline, round).await;
                    publisher.bind(&endpoint)?;
                    drop(publisher);
                }
                ctx.terminate().await?;
            }
            "stream-over-inproc" => {
                // Found by tests/fuzz.rs: a two-frame message from an
                // inproc peer aborts a STREAM socket.
                let stream = ctx.socket(SocketType::Stream)?;
                assert!(stream.bind("inproc://s").is_err());
                assert!(stream.connect("inproc://s").is_err());
                let dealer = ctx.socket(SocketType::Dealer)?;
                dealer.bind("inproc://s")?;
                assert!(stream.connect("inproc://s").is_err());
                let _ = dealer.try_send(["a", "b"]);
                let _ = stream.events()?;
                let _ = stream.try_recv();
            }
            "pending-in-a-full-context" | "monitor-in-a-full-context" => {
                // zmq_ctx_term makes a PAIR socket for each endpoint still
                // pending and asserts that it could (ctx.cpp:169): in a
                // context at its MAX_SOCKETS limit, it cannot.
                let ctx = Context::builder().max_sockets(8).build()?;
                let mut sockets = Vec::new();
                if name.starts_with("pending") {
                    let a = ctx.socket(SocketType::Dealer)?;
                    a.connect("inproc://nobody-binds")?;
                    sockets.push(a);
                } else {
                    // Two monitors: the second one's reader fits, the
                    // socket libzmq makes for it does not (4 sockets, then
                    // reader, the context's ROUTER and libzmq's: 7; then a
                    // reader: 8).
                    for _ in 0..4 {
                        sockets.push(ctx.socket(SocketType::Dealer)?);
                    }
                    let first = sockets[0].monitor(zmq_tokio::EventMask::ALL)?;
                    let err = sockets[1].monitor(zmq_tokio::EventMask::ALL).unwrap_err();
                    assert!(err.to_string().contains("MAX_SOCKETS"), "{err}");
                    drop(first);
                }
                // The rest of the slots, held past their close: each has a
                // message queued for a peer that never answers, and lingers.
                while let Ok(s) = ctx.socket(SocketType::Dealer) {
                    s.set(zmq_tokio::options::LINGER, 500)?;
                    s.connect("tcp://127.0.0.1:1")?;
                    s.try_send("queued").expect("queued");
                    sockets.push(s);
                }
                ctx.terminate().await?;
                drop(sockets);
            }
            "closed-pending-shutdown" | "closed-pending-drop" => {
                let s = ctx.socket(SocketType::Sub)?;
                s.connect("inproc://x")?;
                drop(s);
                tokio::time::sleep(Duration::from_millis(100)).await;
                if name.ends_with("shutdown") {
                    ctx.shutdown();
                }
                drop(ctx);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            "xpub-welcome-binds-closed-pending" | "xpub-welcome-binds-mixed-pending" => {
                // Found by tests/fuzz.rs: the pipe of a connector closed
                // while pending cannot take XPUB_WELCOME_MSG.
                let s = ctx.socket(SocketType::Sub)?;
                s.connect("inproc://x")?;
                s.close();
                let open = ctx.socket(SocketType::Sub)?;
                if name.contains("mixed") {
                    open.connect("inproc://x")?;
                }
                let x = ctx.socket(SocketType::XPub)?;
                x.set(zmq_tokio::options::XPUB_WELCOME_MSG, "hello")?;
                let r = x.bind("inproc://x");
                if name.contains("mixed") {
                    assert!(matches!(r, Err(Error::InvalidEndpoint { .. })), "{r:?}");
                } else {
                    r?;
                    // The endpoint works for new connections.
                    open.connect("inproc://x")?;
                    open.subscribe("")?;
                    // The XPUB attaches the pipe when it next processes
                    // its commands.
                    let _ = x.events()?;
                    let welcome = tokio::time::timeout(Duration::from_secs(5), open.recv())
                        .await
                        .expect("welcome message")?;
                    assert_eq!(welcome, zmq_tokio::Multipart::from("hello"));
                }
            }
            other => panic!("unknown scenario {other}"),
        }
        Ok(())
    })
}

const SCENARIOS: &[&str] = &[
    "router-disconnect-bind",
    "rep-disconnect-bind",
    "pull-disconnect-bind",
    "sub-disconnect-bind",
    "router-unbind-bind",
    "router-disconnect-terminate",
    "router-close-bind",
    "sub-close-bind",
    "sub-close-terminate",
    "router-close-terminate",
    "self-connect-bind",
    "bound-disconnect-rebind",
    "closed-binder",
    "pair-with-peer-binds-router-pending",
    "pair-binds-two-pending",
    "xpub-welcome-binds-closed-pending",
    "xpub-welcome-binds-mixed-pending",
    "dealer-binds-closed-pending",
    "dealer-binds-mixed-pending",
    "closed-pending-shutdown",
    "stream-over-inproc",
    "closed-pending-drop",
    "pending-in-a-full-context",
    "monitor-in-a-full-context",
    "absorbed-connectors-free-their-slots",
];

#[test]
fn scenarios_do_not_crash() {
    if let Some(name) = child::scenario() {
        run_scenario(&name).expect("scenario");
        return;
    }
    let mut failed = Vec::new();
    for name in SCENARIOS {
        let outcome = child::run(child::command(TEST, name), Duration::from_secs(20));
        println!("{name}: {}", outcome.describe());
        if !outcome.success() {
            failed.push(format!(
                "{name}: {}\n{}\n{}",
                outcome.describe(),
                outcome.stdout,
                outcome.stderr
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
