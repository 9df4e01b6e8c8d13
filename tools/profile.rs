//! A fixed workload to run under a profiler, for zmq-tokio or the
//! synchronous `zmq` crate: the source of the instruction counts, `perf`
//! profiles and system-call counts in `benches/README.md`. It builds as an
//! example target (declared in `Cargo.toml`), so that it lands in
//! `target/release/examples/profile`.
//!
//! ```text
//! cargo build --release --example profile
//! target/release/examples/profile SIDE WORKLOAD COUNT [ENDPOINT]
//!
//!   SIDE      async (zmq-tokio, two tasks on a 2-worker runtime; WORKERS=N
//!             to change) or sync (the zmq crate, two threads); for
//!             pubsub also bare: the zmq crate's sockets in Tokio tasks
//!             (2 workers), each SUB trying `recv` with DONTWAIT into one
//!             reused message and waiting on its ZMQ_FD through `AsyncFd`
//!             when it would block, with no lock and no budget: the least
//!             a receive in a Tokio task can cost, one task per socket
//!   WORKLOAD  thr    PUSH -> PULL, COUNT messages of SIZE bytes
//!             lat    REQ <-> REP, COUNT round trips of SIZE bytes
//!             proxy  PUSH -> (PULL | proxy | PUSH) -> PULL over inproc,
//!                    COUNT messages of SIZE bytes (zmq_proxy for sync;
//!                    BURST=N sets the async proxy's burst)
//!             pubsub PUB -> SUBS SUBs (8 unless SUBS=N), COUNT messages of
//!                    SIZE bytes, HWM 0 (one task or thread per socket)
//!             tcplat COUNT round trips of SIZE bytes over a plain
//!                    loopback TCP connection, without libzmq: Tokio's
//!                    `TcpStream` in two tasks, or std's in two threads.
//!                    What waiting in Tokio's reactor and waking a thread
//!                    cost on the machine, apart from libzmq
//!   ENDPOINT  where thr and lat bind [default: inproc://profile]
//!
//!   SIZE=N sets the payload's size in bytes [default: 16].
//!   UNCONSTRAINED=1 runs async thr's two tasks outside Tokio's cooperative
//!   budget (`tokio::task::unconstrained`), to measure what the budget's
//!   yields cost.
//!   CURRENT_THREAD=1 runs the async side on a current-thread runtime.
//!   INTO=1 has async pubsub's SUBs receive with `recv_into` on one reused
//!   `Multipart`, as the sync and bare SUBs reuse one message.
//!   CLIENT_IN_MAIN=1 runs async lat's (and tcplat's) client in `block_on`'s own future
//!   (as `#[tokio::main]` runs `main`), not in a spawned task.
//! ```
//!
//! Instructions per message are the difference of two runs, so that set-up
//! costs cancel out (`benches/callgrind.sh` does this):
//!
//! ```text
//! valgrind --tool=callgrind target/release/examples/profile async thr 50000
//! valgrind --tool=callgrind target/release/examples/profile async thr 100000
//! perf record -e cpu-clock target/release/examples/profile async thr 4000000
//! strace -f -c target/release/examples/profile async lat 2000 'tcp://127.0.0.1:*'
//! /usr/bin/time target/release/examples/profile sync tcplat 10000
//! perf stat -e task-clock target/release/examples/profile async thr 3000000
//! UNCONSTRAINED=1 perf stat -e task-clock target/release/examples/profile async thr 3000000
//! ```

use std::num::NonZeroUsize;
use std::process::ExitCode;

use zmq_tokio::{Context, SocketType};

/// The payload's size in bytes unless `SIZE=N` says otherwise.
const DEFAULT_SIZE: usize = 16;

/// What `pubsub`'s publisher sends until every SUB has one (then they are
/// all connected and subscribed); never the payload, which is 7s.
const WELCOME: &[u8] = b"welcome";

/// `pubsub`'s number of SUBs: `SUBS=N`, 8 by default.
fn subscribers() -> Result<usize, String> {
    Ok(env_number("SUBS")?.map_or(8, NonZeroUsize::get))
}

/// The payload every message carries: `SIZE` bytes (16 by default).
fn payload() -> Result<Vec<u8>, String> {
    let size = env_number("SIZE")?.map_or(DEFAULT_SIZE, NonZeroUsize::get);
    Ok(vec![7; size])
}

#[derive(Clone, Copy)]
enum Workload {
    Thr,
    Lat,
    Proxy,
    PubSub,
    TcpLat,
}

fn main() -> ExitCode {
    match parse(std::env::args().skip(1).collect()) {
        Ok((side, workload, count, endpoint)) => {
            let result = match side {
                Side::Sync => run_sync(workload, count, &endpoint),
                Side::Async => run_async(workload, count, &endpoint),
                Side::Bare => run_bare(count, &endpoint),
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("profile: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!(
                "profile: {e}\nusage: profile async|sync|bare thr|lat|proxy|pubsub|tcplat COUNT [ENDPOINT]"
            );
            ExitCode::from(2)
        }
    }
}

/// Who runs the workload.
#[derive(Clone, Copy)]
enum Side {
    Async,
    Sync,
    Bare,
}

type Parsed = (Side, Workload, usize, String);

fn parse(args: Vec<String>) -> Result<Parsed, String> {
    let [side, workload, count, rest @ ..] = &args[..] else {
        return Err("expected SIDE, WORKLOAD and COUNT".into());
    };
    let side = match side.as_str() {
        "async" => Side::Async,
        "sync" => Side::Sync,
        "bare" => Side::Bare,
        other => return Err(format!("unknown side {other:?} (async, sync or bare)")),
    };
    let workload = match workload.as_str() {
        "thr" => Workload::Thr,
        "lat" => Workload::Lat,
        "proxy" => Workload::Proxy,
        "pubsub" => Workload::PubSub,
        "tcplat" => Workload::TcpLat,
        other => {
            return Err(format!(
                "unknown workload {other:?} (thr, lat, proxy, pubsub or tcplat)"
            ))
        }
    };
    let count = count
        .parse()
        .map_err(|e| format!("COUNT {count:?} is not a number: {e}"))?;
    let endpoint = match rest {
        [] => "inproc://profile".to_owned(),
        [endpoint] if matches!(workload, Workload::TcpLat) => {
            return Err(format!(
                "tcplat takes no ENDPOINT (it connects to 127.0.0.1 on a port of its own), got {endpoint:?}"
            ))
        }
        [endpoint] => endpoint.clone(),
        _ => return Err("too many arguments".into()),
    };
    if matches!(side, Side::Bare) && !matches!(workload, Workload::PubSub) {
        return Err("the bare side runs pubsub only".into());
    }
    Ok((side, workload, count, endpoint))
}

/// A positive number from the environment variable `name`, if set.
fn env_number(name: &str) -> Result<Option<NonZeroUsize>, String> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map(Some)
            .map_err(|e| format!("{name}={value:?}: {e}")),
        Err(_) => Ok(None),
    }
}

/// Whether `UNCONSTRAINED=1` is set.
fn env_unconstrained() -> Result<bool, String> {
    env_flag("UNCONSTRAINED")
}

/// Whether the variable `name` is set to 1.
fn env_flag(name: &str) -> Result<bool, String> {
    match std::env::var(name) {
        Ok(value) if value == "1" => Ok(true),
        Ok(value) if value.is_empty() => Ok(false),
        Ok(value) => Err(format!("{name}={value:?}: expected 1 or unset")),
        Err(_) => Ok(false),
    }
}

/// Runs `side` as a task, outside the cooperative budget if `unconstrained`.
fn spawn_side<T: Send + 'static>(
    unconstrained: bool,
    side: impl std::future::Future<Output = T> + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::spawn(async move {
        if unconstrained {
            tokio::task::unconstrained(side).await
        } else {
            side.await
        }
    })
}

fn run_async(workload: Workload, count: usize, endpoint: &str) -> Result<(), String> {
    let unconstrained = env_unconstrained()?;
    let workers = env_number("WORKERS")?.map_or(2, NonZeroUsize::get);
    let burst = env_number("BURST")?;
    let subscribers = subscribers()?;
    let payload = payload()?;
    let current = env_flag("CURRENT_THREAD")?;
    let client_in_main = env_flag("CLIENT_IN_MAIN")?;
    let into = env_flag("INTO")?;
    let rt = if current {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("runtime: {e}"))?;
    if let Workload::TcpLat = workload {
        return rt.block_on(tcp_lat_async(count, payload, client_in_main));
    }
    rt.block_on(async move {
        let ctx = Context::new();
        match workload {
            Workload::Thr => {
                let pull = ctx.socket(SocketType::Pull)?;
                let bound = pull.bind(endpoint)?;
                let push = ctx.socket(SocketType::Push)?;
                push.connect(&bound)?;
                let sending = spawn_side(unconstrained, async move {
                    for _ in 0..count {
                        push.send(&payload[..]).await?;
                    }
                    Ok::<_, zmq_tokio::Error>(push)
                });
                let receiving = spawn_side(unconstrained, async move {
                    for _ in 0..count {
                        std::hint::black_box(pull.recv().await?);
                    }
                    Ok::<_, zmq_tokio::Error>(pull)
                });
                sending.await.expect("sender panicked")?;
                receiving.await.expect("receiver panicked")?;
            }
            Workload::Lat => {
                let rep = ctx.socket(SocketType::Rep)?;
                let bound = rep.bind(endpoint)?;
                let req = ctx.socket(SocketType::Req)?;
                req.connect(&bound)?;
                let echo = tokio::spawn(async move {
                    for _ in 0..count {
                        let request = rep.recv().await?;
                        rep.send(request).await?;
                    }
                    Ok::<_, zmq_tokio::Error>(rep)
                });
                let asking = async move {
                    for _ in 0..count {
                        req.send(&payload[..]).await?;
                        std::hint::black_box(req.recv().await?);
                    }
                    Ok::<_, zmq_tokio::Error>(req)
                };
                if client_in_main {
                    // In block_on's own future, as #[tokio::main] runs it.
                    asking.await?;
                } else {
                    tokio::spawn(asking).await.expect("client panicked")?;
                }
                echo.await.expect("server panicked")?;
            }
            Workload::Proxy => {
                let frontend = ctx.socket(SocketType::Pull)?;
                frontend.bind("inproc://profile-front")?;
                let backend = ctx.socket(SocketType::Push)?;
                backend.bind("inproc://profile-back")?;
                let mut proxy = zmq_tokio::proxy(frontend, backend);
                if let Some(burst) = burst {
                    proxy = proxy.burst(burst);
                }
                let control = proxy.control();
                let running = tokio::spawn(proxy.run());
                let push = ctx.socket(SocketType::Push)?;
                push.connect("inproc://profile-front")?;
                let pull = ctx.socket(SocketType::Pull)?;
                pull.connect("inproc://profile-back")?;
                let sending = tokio::spawn(async move {
                    for _ in 0..count {
                        push.send(&payload[..]).await?;
                    }
                    Ok::<_, zmq_tokio::Error>(push)
                });
                for _ in 0..count {
                    std::hint::black_box(pull.recv().await?);
                }
                sending.await.expect("sender panicked")?;
                control.terminate();
                running.await.expect("proxy panicked")?;
            }
            Workload::PubSub => {
                let publisher = ctx.socket(SocketType::Pub)?;
                publisher.set(zmq_tokio::options::SNDHWM, 0)?;
                let bound = publisher.bind(endpoint)?;
                let mut receiving = Vec::new();
                let subscribed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
                for _ in 0..subscribers {
                    let sub = ctx.socket(SocketType::Sub)?;
                    sub.set(zmq_tokio::options::RCVHWM, 0)?;
                    sub.subscribe(b"")?;
                    sub.connect(&bound)?;
                    let subscribed = std::sync::Arc::clone(&subscribed);
                    receiving.push(spawn_side(unconstrained, async move {
                        let mut got = 0;
                        let mut welcomed = false;
                        let mut reused = zmq_tokio::Multipart::new();
                        while got < count {
                            let fresh;
                            let msg = if into {
                                sub.recv_into(&mut reused).await?;
                                &reused
                            } else {
                                fresh = sub.recv().await?;
                                &fresh
                            };
                            if is_payload(&msg[0][..], &mut welcomed, &subscribed) {
                                got += 1;
                            }
                        }
                        Ok::<_, zmq_tokio::Error>(sub)
                    }));
                }
                let all = receiving.len();
                while subscribed.load(std::sync::atomic::Ordering::SeqCst) < all {
                    publisher.send(WELCOME).await?;
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                for _ in 0..count {
                    publisher.send(&payload[..]).await?;
                }
                for sub in receiving {
                    sub.await.expect("subscriber panicked")?;
                }
            }
            // Run without libzmq above.
            Workload::TcpLat => {}
        }
        Ok::<_, zmq_tokio::Error>(())
    })
    .map_err(|e: zmq_tokio::Error| e.to_string())
}

fn run_sync(workload: Workload, count: usize, endpoint: &str) -> Result<(), String> {
    let zmq = |e: zmq::Error| e.to_string();
    let payload = payload()?;
    if let Workload::TcpLat = workload {
        return tcp_lat_sync(count, payload);
    }
    let ctx = zmq::Context::new();
    let (first, second) = match workload {
        // Run without libzmq above.
        Workload::TcpLat => return Ok(()),
        Workload::PubSub => {
            let (publisher, subs) = zmq_pub_sub(&ctx, endpoint)?;
            let subscribed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let mut receiving = Vec::new();
            for sub in subs {
                let subscribed = std::sync::Arc::clone(&subscribed);
                receiving.push(std::thread::spawn(move || -> zmq::Result<()> {
                    let mut msg = zmq::Message::new();
                    let (mut got, mut welcomed) = (0, false);
                    while got < count {
                        sub.recv(&mut msg, 0)?;
                        if is_payload(&msg[..], &mut welcomed, &subscribed) {
                            got += 1;
                        }
                    }
                    Ok(())
                }));
            }
            let all = receiving.len();
            while subscribed.load(std::sync::atomic::Ordering::SeqCst) < all {
                publisher.send(WELCOME, 0).map_err(zmq)?;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            for _ in 0..count {
                publisher.send(&payload[..], 0).map_err(zmq)?;
            }
            for sub in receiving {
                sub.join().expect("subscriber panicked").map_err(zmq)?;
            }
            return Ok(());
        }
        Workload::Thr => (zmq::PULL, zmq::PUSH),
        Workload::Lat => (zmq::REP, zmq::REQ),
        Workload::Proxy => {
            let frontend = ctx.socket(zmq::PULL).map_err(zmq)?;
            frontend.bind("inproc://profile-front").map_err(zmq)?;
            let backend = ctx.socket(zmq::PUSH).map_err(zmq)?;
            backend.bind("inproc://profile-back").map_err(zmq)?;
            // zmq_proxy returns only when its context ends: the thread is
            // left behind, and the process exits without waiting for it.
            std::thread::spawn(move || zmq::proxy(&frontend, &backend));
            let push = ctx.socket(zmq::PUSH).map_err(zmq)?;
            push.connect("inproc://profile-front").map_err(zmq)?;
            let pull = ctx.socket(zmq::PULL).map_err(zmq)?;
            pull.connect("inproc://profile-back").map_err(zmq)?;
            let sending =
                std::thread::spawn(move || (0..count).try_for_each(|_| push.send(&payload[..], 0)));
            let mut msg = zmq::Message::new();
            for _ in 0..count {
                pull.recv(&mut msg, 0).map_err(zmq)?;
            }
            sending.join().expect("sender panicked").map_err(zmq)?;
            std::process::exit(0);
        }
    };
    let binder = ctx.socket(first).map_err(zmq)?;
    binder.bind(endpoint).map_err(zmq)?;
    let bound = binder
        .get_last_endpoint()
        .map_err(zmq)?
        .map_err(|_| "the bound endpoint is not UTF-8".to_owned())?;
    let connecter = ctx.socket(second).map_err(zmq)?;
    connecter.connect(&bound).map_err(zmq)?;
    let mut msg = zmq::Message::new();
    let other = match workload {
        Workload::Lat => {
            let rep = binder;
            let echo = std::thread::spawn(move || -> zmq::Result<()> {
                for _ in 0..count {
                    let request = rep.recv_msg(0)?;
                    rep.send(request, 0)?;
                }
                Ok(())
            });
            for _ in 0..count {
                connecter.send(&payload[..], 0).map_err(zmq)?;
                connecter.recv(&mut msg, 0).map_err(zmq)?;
            }
            echo
        }
        _ => {
            let push = connecter;
            let sending = std::thread::spawn(move || -> zmq::Result<()> {
                (0..count).try_for_each(|_| push.send(&payload[..], 0))
            });
            for _ in 0..count {
                binder.recv(&mut msg, 0).map_err(zmq)?;
            }
            sending
        }
    };
    other.join().expect("peer thread panicked").map_err(zmq)
}

/// `pubsub` on the bare side: the zmq crate's PUB in `block_on`, as the
/// async side's, and each SUB a task of a 2-worker runtime that tries
/// `recv` with `DONTWAIT` and, when it would block, reads `ZMQ_EVENTS`
/// and waits for its `ZMQ_FD` through `AsyncFd` until POLLIN shows (one
/// task per socket, so no lock is needed). What a receive in a Tokio task
/// costs at least, apart from the crate's own code.
fn run_bare(count: usize, endpoint: &str) -> Result<(), String> {
    let zmq = |e: zmq::Error| e.to_string();
    let payload = payload()?;
    let workers = env_number("WORKERS")?.map_or(2, NonZeroUsize::get);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    rt.block_on(async move {
        let ctx = zmq::Context::new();
        let (publisher, subs) = zmq_pub_sub(&ctx, endpoint)?;
        let subscribed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut receiving = Vec::new();
        for sub in subs {
            // `new`, not `register`, which is unsafe: libzmq keeps ZMQ_FD
            // open until the socket closes, and the task below drops `fd`
            // before `sub` (declared after it).
            #[allow(deprecated)]
            let fd = tokio::io::unix::AsyncFd::new(BorrowedZmqFd(sub.get_fd().map_err(zmq)?))
                .map_err(|e| format!("register ZMQ_FD: {e}"))?;
            let subscribed = std::sync::Arc::clone(&subscribed);
            receiving.push(tokio::spawn(async move {
                let mut msg = zmq::Message::new();
                let (mut got, mut welcomed) = (0, false);
                while got < count {
                    // Inline, not a function taking `&sub`: a zmq::Socket is
                    // not Sync, so a borrow of it across an await would
                    // keep the task from being Send.
                    loop {
                        match sub.recv(&mut msg, zmq::DONTWAIT) {
                            Ok(()) => break,
                            Err(zmq::Error::EAGAIN) => {}
                            Err(e) => return Err(e.to_string()),
                        }
                        // The failed call may have drained the edge the fd
                        // would show: read ZMQ_EVENTS before each wait.
                        while !sub.get_events().map_err(zmq)?.contains(zmq::POLLIN) {
                            let mut guard = fd.readable().await.map_err(|e| e.to_string())?;
                            guard.clear_ready();
                        }
                    }
                    if is_payload(&msg[..], &mut welcomed, &subscribed) {
                        got += 1;
                    }
                }
                Ok::<_, String>(())
            }));
        }
        let all = receiving.len();
        while subscribed.load(std::sync::atomic::Ordering::SeqCst) < all {
            publisher.send(WELCOME, 0).map_err(zmq)?;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        // With SNDHWM 0 a PUB never blocks: the same calls as the sync PUB.
        for _ in 0..count {
            publisher.send(&payload[..], 0).map_err(zmq)?;
        }
        for sub in receiving {
            sub.await.expect("subscriber panicked")?;
        }
        Ok(())
    })
}

/// A SUB's bookkeeping in `pubsub`: whether `frame` is a message to count;
/// the first welcome a SUB gets counts that SUB as subscribed.
fn is_payload(
    frame: &[u8],
    welcomed: &mut bool,
    subscribed: &std::sync::atomic::AtomicUsize,
) -> bool {
    if frame != WELCOME {
        return true;
    }
    if !*welcomed {
        *welcomed = true;
        subscribed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    false
}

/// `pubsub`'s sockets for the `zmq` crate (the sync and bare sides): a PUB
/// bound at `endpoint` and `SUBS` SUBs connected to it, HWM 0, subscribed
/// to everything.
fn zmq_pub_sub(
    ctx: &zmq::Context,
    endpoint: &str,
) -> Result<(zmq::Socket, Vec<zmq::Socket>), String> {
    let zmq = |e: zmq::Error| e.to_string();
    let publisher = ctx.socket(zmq::PUB).map_err(zmq)?;
    publisher.set_sndhwm(0).map_err(zmq)?;
    publisher.bind(endpoint).map_err(zmq)?;
    let bound = publisher
        .get_last_endpoint()
        .map_err(zmq)?
        .map_err(|_| "the bound endpoint is not UTF-8".to_owned())?;
    let subs = (0..subscribers()?)
        .map(|_| {
            let sub = ctx.socket(zmq::SUB).map_err(zmq)?;
            sub.set_rcvhwm(0).map_err(zmq)?;
            sub.set_subscribe(b"").map_err(zmq)?;
            sub.connect(&bound).map_err(zmq)?;
            Ok(sub)
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((publisher, subs))
}

/// A SUB's `ZMQ_FD`, owned by libzmq: registering it does not close it.
struct BorrowedZmqFd(std::os::fd::RawFd);

impl std::os::fd::AsRawFd for BorrowedZmqFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}

/// `tcplat` for Tokio: an echoing task and an asking task on one loopback
/// TCP connection (`TCP_NODELAY`, as libzmq sets), `count` round trips of
/// `payload`.
async fn tcp_lat_async(count: usize, mut payload: Vec<u8>, in_main: bool) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = |e: std::io::Error| format!("tcplat: {e}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io)?;
    let address = listener.local_addr().map_err(io)?;
    let mut request = vec![0; payload.len()];
    let echo = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        for _ in 0..count {
            stream.read_exact(&mut request).await?;
            stream.write_all(&request).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut stream = tokio::net::TcpStream::connect(address).await.map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    let asking = async move {
        for _ in 0..count {
            stream.write_all(&payload).await?;
            stream.read_exact(&mut payload).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    if in_main {
        asking.await.map_err(io)?;
    } else {
        tokio::spawn(asking)
            .await
            .expect("client panicked")
            .map_err(io)?;
    }
    echo.await.expect("server panicked").map_err(io)
}

/// `tcplat` for std: the same with blocking calls on two threads.
fn tcp_lat_sync(count: usize, mut payload: Vec<u8>) -> Result<(), String> {
    use std::io::{Read, Write};
    let io = |e: std::io::Error| format!("tcplat: {e}");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io)?;
    let address = listener.local_addr().map_err(io)?;
    let mut request = vec![0; payload.len()];
    let echo = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        for _ in 0..count {
            stream.read_exact(&mut request)?;
            stream.write_all(&request)?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut stream = std::net::TcpStream::connect(address).map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    for _ in 0..count {
        stream.write_all(&payload).map_err(io)?;
        stream.read_exact(&mut payload).map_err(io)?;
    }
    echo.join().expect("server panicked").map_err(io)
}
