//! Limits: a thousand sockets at once work, and a context's socket limit
//! reports itself as that.

use std::time::Duration;

use zmq_tokio::{options, Context, Error, EventMask, SocketType};

async fn bounded<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("the test did not finish in time")
}

/// 1,000 PUSH sockets connect at once over tcp to one PULL listener (with a
/// BACKLOG above libzmq's 100) and each message arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sockets_at_once() {
    bounded(60, async {
        let ctx = Context::builder().io_threads(2).build().unwrap();
        let pull = ctx.socket(SocketType::Pull).unwrap();
        pull.set(options::BACKLOG, 1100).unwrap();
        pull.set(options::RCVHWM, 0).unwrap();
        let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
        let mut pushes = Vec::new();
        for i in 0..1000u32 {
            let push = ctx.socket(SocketType::Push).unwrap();
            push.connect(&endpoint).unwrap();
            push.send(i.to_string()).await.unwrap();
            pushes.push(push);
        }
        let mut seen = vec![false; 1000];
        for _ in 0..1000 {
            let n: usize = pull.recv_string().await.unwrap().parse().unwrap();
            assert!(!seen[n], "{n} twice");
            seen[n] = true;
        }
        assert!(seen.iter().all(|&s| s));
        drop(pushes);
        ctx.terminate().await.unwrap();
    })
    .await;
}

/// The socket beyond `max_sockets` fails with an error that names the
/// limit, and a closed socket's slot comes back (asynchronously).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_limit_names_itself() {
    bounded(30, async {
        let ctx = Context::builder().max_sockets(8).build().unwrap();
        let mut sockets = Vec::new();
        let err = loop {
            match ctx.socket(SocketType::Dealer) {
                Ok(s) => sockets.push(s),
                Err(e) => break e,
            }
            assert!(sockets.len() <= 8, "more sockets than the limit");
        };
        assert_eq!(sockets.len(), 8);
        assert!(matches!(err, Error::Zmq { errno: 24, .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("MAX_SOCKETS limit (8)"), "{text}");
        assert!(text.contains("max_sockets"), "{text}");
        // Freed asynchronously: poll until the reaper has made room.
        sockets.pop();
        let again = loop {
            match ctx.socket(SocketType::Dealer) {
                Ok(s) => break s,
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        };
        drop(again);
        drop(sockets);
        ctx.terminate().await.unwrap();
    })
    .await;
}

/// `monitor` needs two sockets of the context: ours, and the one libzmq
/// makes inside `zmq_socket_monitor` (and the context's first one makes
/// the context's own ROUTER, see `src/inproc.rs`). When only ours fits,
/// libzmq's `EMFILE` names the limit too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_beyond_the_limit_names_it() {
    bounded(30, async {
        let ctx = Context::builder().max_sockets(8).build().unwrap();
        let sockets: Vec<_> = (0..4)
            .map(|_| ctx.socket(SocketType::Dealer).unwrap())
            .collect();
        // 4 + reader + ROUTER + libzmq's = 7.
        let first = sockets[0].monitor(EventMask::ALL).unwrap();
        // 7 + reader = 8: libzmq's has no room.
        let err = sockets[1].monitor(EventMask::ALL).unwrap_err();
        assert!(matches!(err, Error::Zmq { errno: 24, .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("monitor on"), "{text}");
        assert!(text.contains("MAX_SOCKETS limit (8)"), "{text}");
        drop(first);
        drop(sockets);
        ctx.terminate().await.unwrap();
    })
    .await;
}

/// libzmq's default limit is 1023 sockets per context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_limit_is_1023() {
    bounded(30, async {
        let ctx = Context::new();
        let mut sockets = Vec::new();
        let err = loop {
            match ctx.socket(SocketType::Pair) {
                Ok(s) => sockets.push(s),
                Err(e) => break e,
            }
            assert!(sockets.len() <= 1023);
        };
        assert_eq!(sockets.len(), 1023);
        assert!(
            err.to_string().contains("MAX_SOCKETS limit (1023)"),
            "{err}"
        );
        drop(sockets);
        ctx.terminate().await.unwrap();
    })
    .await;
}
