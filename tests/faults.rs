//! Faults a network brings, with real processes and real TCP on 127.0.0.1:
//! a peer killed with SIGKILL and restarted, a receiver killed mid-stream,
//! a link that stalls, and connections reset in the middle of multipart
//! traffic. Peers that get killed are this test binary run again as a
//! child process (see `tests/child/mod.rs`).

mod child;
#[path = "faults/relay.rs"]
mod relay;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relay::{Mode, Relay};
use zmq_tokio::{options, Context, Event, EventMask, Multipart, Socket, SocketType};

/// The peer a child process runs (selected by `child::scenario()`).
#[test]
fn peer() {
    let Some(role) = child::scenario() else {
        return; // only a child runs it
    };
    let port: u16 = std::env::var("FAULT_PORT")
        .expect("FAULT_PORT")
        .parse()
        .expect("port");
    let endpoint = format!("tcp://127.0.0.1:{port}");
    // The parent holds our stdin: when it ends (even by a crash), so do we.
    std::thread::spawn(|| {
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        std::process::exit(0);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        match role.as_str() {
            // Echoes every request until killed.
            "rep" => {
                let rep = Socket::new(SocketType::Rep).expect("rep");
                bind_retrying(&rep, &endpoint).await;
                println!("ready");
                loop {
                    let msg = rep.recv().await.expect("recv");
                    rep.send(msg).await.expect("send");
                }
            }
            // Prints every sequence number it receives until killed.
            "pull" => {
                let pull = Socket::new(SocketType::Pull).expect("pull");
                pull.set(options::RCVHWM, 10).expect("RCVHWM");
                bind_retrying(&pull, &endpoint).await;
                println!("ready");
                loop {
                    let n = pull.recv_string().await.expect("recv");
                    println!("{n}");
                }
            }
            // The reset test's body, in a child: see below.
            "reset" => reset_never_tears_a_multipart_message().await,
            other => panic!("unknown role {other}"),
        }
    });
}

/// The port may still be held for a moment by the killed predecessor.
async fn bind_retrying(socket: &Socket, endpoint: &str) {
    for _ in 0..200 {
        if socket.bind(endpoint).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("cannot bind {endpoint}");
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A peer process and the lines it prints.
struct Peer {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    /// Starts `role` on `port` and waits until it has bound.
    fn start(role: &str, port: u16) -> Peer {
        let mut cmd = child::command("peer", role);
        cmd.env("FAULT_PORT", port.to_string())
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn peer");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The harness starts the first line with "test peer ... ".
                let word = line.rsplit(' ').next().unwrap_or_default().to_owned();
                sink.lock().unwrap().push(word);
            }
        });
        let started = Instant::now();
        while !lines.lock().unwrap().iter().any(|l| l == "ready") {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{role} never got ready"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        Peer { child, lines }
    }

    /// SIGKILL, like `kill -9`, and reap it.
    fn kill(mut self) -> Vec<String> {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
        std::thread::sleep(Duration::from_millis(20));
        let lines = self.lines.lock().unwrap().clone();
        lines
    }
}

impl Drop for Peer {
    /// A failing test leaves no peer behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn bounded<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("the test did not finish in time")
}

/// REQ with REQ_RELAXED and REQ_CORRELATE against a REP process killed
/// with SIGKILL and restarted: every reply matches its request, and the
/// client never hangs (it resends after a timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req_relaxed_survives_a_killed_server() {
    if child::scenario().is_some() {
        return;
    }
    bounded(40, async {
        let port = free_port();
        let mut server = Some(Peer::start("rep", port));
        let req = Socket::new(SocketType::Req).unwrap();
        req.set(options::REQ_RELAXED, true).unwrap();
        req.set(options::REQ_CORRELATE, true).unwrap();
        req.set(options::LINGER, 0).unwrap();
        req.set(options::RECONNECT_IVL, 20).unwrap();
        req.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
        let (mut kills, mut resends) = (0, 0);
        for i in 0..60u32 {
            let request = format!("request {i}");
            let mut attempts = 0;
            loop {
                attempts += 1;
                assert!(attempts <= 50, "no reply to {request}");
                req.send(request.as_str()).await.unwrap();
                if i % 10 == 5 && attempts == 1 {
                    // Killed with the request in flight (or its reply).
                    server.take().unwrap().kill();
                    kills += 1;
                    server = Some(Peer::start("rep", port));
                }
                match tokio::time::timeout(Duration::from_millis(300), req.recv_string()).await {
                    Ok(reply) => {
                        assert_eq!(reply.unwrap(), request, "mismatched reply");
                        break;
                    }
                    Err(_) => resends += 1,
                }
            }
        }
        server.take().unwrap().kill();
        println!("REQ_RELAXED: 60 requests, {kills} kills, {resends} resends, 0 mismatched");
        assert!(kills >= 5);
    })
    .await;
}

/// The Lazy Pirate client: on a timeout it closes its REQ socket, opens a
/// new one and retries; replies always match and nothing hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_pirate_survives_a_killed_server() {
    if child::scenario().is_some() {
        return;
    }
    bounded(40, async {
        let port = free_port();
        let endpoint = format!("tcp://127.0.0.1:{port}");
        let mut server = Some(Peer::start("rep", port));
        let connect = || {
            let req = Socket::new(SocketType::Req).unwrap();
            req.set(options::LINGER, 0).unwrap();
            req.set(options::RECONNECT_IVL, 20).unwrap();
            req.connect(&endpoint).unwrap();
            req
        };
        let mut req = connect();
        let (mut kills, mut retries) = (0, 0);
        for i in 0..60u32 {
            let request = format!("request {i}");
            let mut attempts = 0;
            loop {
                attempts += 1;
                assert!(attempts <= 50, "no reply to {request}");
                req.send(request.as_str()).await.unwrap();
                if i % 10 == 5 && attempts == 1 {
                    // Killed with the request in flight (or its reply).
                    server.take().unwrap().kill();
                    kills += 1;
                    server = Some(Peer::start("rep", port));
                }
                match tokio::time::timeout(Duration::from_millis(300), req.recv_string()).await {
                    Ok(reply) => {
                        assert_eq!(reply.unwrap(), request, "mismatched reply");
                        break;
                    }
                    Err(_) => {
                        retries += 1;
                        req = connect();
                    }
                }
            }
        }
        server.take().unwrap().kill();
        println!("Lazy Pirate: 60 requests, {kills} kills, {retries} retries, 0 mismatched");
    })
    .await;
}

/// A PULL process killed mid-stream and restarted: what each incarnation
/// received is strictly increasing (nothing duplicated or reordered, only
/// what was in flight lost), and the pusher resumes with the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_resumes_after_a_killed_puller() {
    if child::scenario().is_some() {
        return;
    }
    bounded(40, async {
        let port = free_port();
        let push = Socket::new(SocketType::Push).unwrap();
        push.set(options::SNDHWM, 10).unwrap();
        push.set(options::LINGER, 0).unwrap();
        push.set(options::RECONNECT_IVL, 20).unwrap();
        push.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
        let mut received: Vec<u64> = Vec::new();
        let mut next = 0u64;
        for round in 0..3 {
            let puller = Peer::start("pull", port);
            let target = 300 * (round + 1);
            let started = Instant::now();
            // Push until this incarnation has printed some, then kill it.
            loop {
                push.send(next.to_string()).await.unwrap();
                next += 1;
                let printed = puller.lines.lock().unwrap().len();
                if printed > 200 || next >= target as u64 * 4 {
                    break;
                }
                assert!(started.elapsed() < Duration::from_secs(15), "the pusher stalled");
            }
            let lines = puller.kill();
            let numbers: Vec<u64> = lines.iter().filter_map(|l| l.parse().ok()).collect();
            assert!(numbers.len() > 100, "round {round}: only {} received", numbers.len());
            received.extend(numbers);
        }
        let unique: BTreeSet<u64> = received.iter().copied().collect();
        assert_eq!(unique.len(), received.len(), "duplicated messages");
        assert!(received.windows(2).all(|w| w[0] < w[1]), "reordered messages");
        println!(
            "PULL killed 3 times: sent {next}, received {}, lost {} in flight, 0 duplicated or reordered",
            received.len(),
            next - received.len() as u64
        );
    })
    .await;
}

async fn wait_for(monitor: &mut zmq_tokio::Monitor, wanted: Event, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let left = within.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, monitor.next_event()).await {
            Ok(Some(Ok(ev))) if ev.event == wanted => return started.elapsed(),
            Ok(Some(_)) => {}
            Ok(None) => panic!("monitor ended waiting for {wanted:?}"),
            Err(_) => panic!("no {wanted:?} within {within:?}"),
        }
    }
}

/// A stalled link (a relay that stops reading but keeps the connection
/// open) is detected by heartbeats: the monitor reports `Disconnected`,
/// and once the relay forwards again the socket reconnects and traffic
/// flows. Then a reset connection reconnects as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_detect_a_stalled_link_and_reconnect() {
    if child::scenario().is_some() {
        return;
    }
    bounded(30, async {
        let ctx = Context::new();
        let server = ctx.socket(SocketType::Router).unwrap();
        let bound = server.bind("tcp://127.0.0.1:*").unwrap();
        let upstream = bound.trim_start_matches("tcp://").parse().unwrap();
        let relay = Relay::start(upstream).await;
        let client = ctx.socket(SocketType::Dealer).unwrap();
        client.set(options::HEARTBEAT_IVL, 200).unwrap();
        client.set(options::HEARTBEAT_TIMEOUT, 1000).unwrap();
        client.set(options::RECONNECT_IVL, 50).unwrap();
        let mut monitor = client
            .monitor(EventMask::CONNECTED | EventMask::DISCONNECTED)
            .unwrap();
        client.connect(&relay.endpoint()).unwrap();
        wait_for(&mut monitor, Event::Connected, Duration::from_secs(5)).await;

        let round_trip = |tag: &'static str| {
            let (client, server) = (&client, &server);
            async move {
                client.send(tag).await.unwrap();
                let msg = server.recv().await.unwrap();
                assert_eq!(msg.len(), 2);
                server.send(msg).await.unwrap();
                assert_eq!(client.recv_string().await.unwrap(), tag);
            }
        };
        tokio::time::timeout(Duration::from_secs(5), round_trip("before"))
            .await
            .expect("traffic before the stall");

        relay.set_mode(Mode::Stall);
        // The server runs its own recv so that it processes its side.
        let server_side = {
            let stalled = tokio::time::timeout(Duration::from_millis(50), server.recv());
            async move {
                let _ = stalled.await;
            }
        };
        server_side.await;
        let detected = wait_for(&mut monitor, Event::Disconnected, Duration::from_secs(5)).await;
        relay.set_mode(Mode::Forward);
        let reconnected = wait_for(&mut monitor, Event::Connected, Duration::from_secs(5)).await;
        tokio::time::timeout(Duration::from_secs(5), round_trip("after stall"))
            .await
            .expect("traffic after the stall");

        relay.reset();
        wait_for(&mut monitor, Event::Disconnected, Duration::from_secs(5)).await;
        let after_reset = wait_for(&mut monitor, Event::Connected, Duration::from_secs(5)).await;
        tokio::time::timeout(Duration::from_secs(5), round_trip("after reset"))
            .await
            .expect("traffic after the reset");
        println!(
            "stall detected after {detected:?}, reconnected {reconnected:?} after the relay resumed, {after_reset:?} after a reset"
        );
        assert!(detected >= Duration::from_millis(500), "detected too early: {detected:?}");
        drop(monitor);
        ctx.terminate().await.unwrap();
    })
    .await;
}

/// Connections reset again and again in the middle of multipart traffic:
/// every message that arrives is whole (its frames agree with each other),
/// and none is duplicated. (Order is kept within one connection only: the
/// PULL side fair-queues between what it still holds from the reset
/// connection and the new one, as libzmq does between any two peers.)
///
/// It runs in a child process: libzmq 4.3.4 can abort on a reset
/// (`Assertion failed: !_io_error (stream_engine_base.cpp:331)`, libzmq
/// issue #4841, when one epoll batch brings a failing read and a write),
/// which would otherwise take every test of this file down with it.
#[test]
fn a_reset_never_tears_a_multipart_message() {
    if child::scenario().is_some() {
        return;
    }
    let mut cmd = child::command("peer", "reset");
    // Piped stdin: the peer exits when it closes (see `peer`).
    cmd.env("FAULT_PORT", "0")
        .stdin(std::process::Stdio::piped());
    let outcome = child::run(cmd, Duration::from_secs(40));
    print!("{}", outcome.stdout);
    if !outcome.success() && outcome.stderr.contains("!_io_error") {
        // libzmq's own abort (issue #4841), which nothing above libzmq can
        // prevent: the run says nothing about torn messages either way.
        eprintln!(
            "the peer hit libzmq issue #4841 (a reset hit the engine's read and write in one \
             epoll batch): {}; no verdict on torn messages from this run",
            outcome.describe()
        );
        return;
    }
    assert!(outcome.stdout.contains("0 torn"), "{}", outcome.stdout);
    assert!(
        outcome.success(),
        "{}\n{}",
        outcome.describe(),
        outcome.stderr
    );
}

async fn reset_never_tears_a_multipart_message() {
    bounded(30, async {
        let ctx = Context::new();
        let pull = ctx.socket(SocketType::Pull).unwrap();
        let bound = pull.bind("tcp://127.0.0.1:*").unwrap();
        let upstream = bound.trim_start_matches("tcp://").parse().unwrap();
        let relay = Arc::new(Relay::start(upstream).await);
        let push = ctx.socket(SocketType::Push).unwrap();
        push.set(options::RECONNECT_IVL, 10).unwrap();
        push.set(options::LINGER, 0).unwrap();
        push.connect(&relay.endpoint()).unwrap();

        let resetter = {
            let relay = relay.clone();
            tokio::spawn(async move {
                let mut resets = 0u32;
                loop {
                    tokio::time::sleep(Duration::from_millis(40)).await;
                    relay.reset();
                    resets += 1;
                    if resets == 40 {
                        return resets;
                    }
                }
            })
        };
        let sender = tokio::spawn(async move {
            let mut seq = 0u64;
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                let body = vec![(seq % 251) as u8; 1000 + (seq % 7000) as usize];
                let msg = Multipart::from(vec![
                    seq.to_string().into_bytes(),
                    body,
                    format!("end {seq}").into_bytes(),
                ]);
                if tokio::time::timeout(Duration::from_millis(200), push.send(msg))
                    .await
                    .is_ok()
                {
                    seq += 1;
                }
            }
            seq
        });
        let mut seen = BTreeSet::new();
        let mut received = 0u64;
        loop {
            match tokio::time::timeout(Duration::from_millis(1500), pull.recv()).await {
                Err(_) => break, // the sender is done
                Ok(msg) => {
                    let msg = msg.unwrap();
                    assert_eq!(msg.len(), 3, "a torn message: {} frames", msg.len());
                    let frames: Vec<&[u8]> = msg.iter().map(|f| &f[..]).collect();
                    let seq: u64 = std::str::from_utf8(frames[0]).unwrap().parse().unwrap();
                    assert_eq!(frames[1].len(), 1000 + (seq % 7000) as usize, "torn body");
                    assert!(
                        frames[1].iter().all(|&b| b == (seq % 251) as u8),
                        "mixed body"
                    );
                    assert_eq!(frames[2], format!("end {seq}").as_bytes(), "torn end");
                    assert!(seen.insert(seq), "{seq} twice");
                    received += 1;
                }
            }
        }
        let sent = sender.await.unwrap();
        let resets = resetter.await.unwrap();
        println!("{resets} resets: sent {sent}, received {received} whole, 0 torn");
        assert!(received > 0 && received <= sent);
        drop(relay);
        ctx.terminate().await.unwrap();
    })
    .await;
}
