//! Interoperability with pyzmq, a ZeroMQ stack we did not write.
//!
//! Each test starts `python3 tests/python/peer.py ROLE ...` and talks to it
//! over tcp on 127.0.0.1: REQ/REP, PUB/SUB with prefix filters, PUSH/PULL
//! with thousands of messages, multipart and 256 KiB frames, PAIR echo and
//! ROUTER/DEALER routing ids, each in both directions.
//!
//! The peer prints `ENDPOINT <endpoint>` for every socket it binds (to a
//! random port) and `OK ...` when it is done, and exits 1 with the reason on
//! stderr when something is wrong. It bounds its own life (receive timeouts
//! and a SIGALRM deadline), and the test kills it on drop.
//!
//! These tests need pyzmq: `pip install pyzmq` (`.ci/test` installs it).
//! Without it they fail, saying so; they never skip silently.

use std::future::Future;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;
use zmq_tokio::{options, Message, Multipart, Socket, SocketType};

mod support;
use support::bounded;

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/peer.py");
const PYTHON: &str = "python3";

/// The bound of every test (the peer's own deadline is 50 s).
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

const BIG: usize = 256 * 1024;

/// Fails (never skips) when pyzmq is missing, saying how to get it.
fn require_pyzmq() {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        let output = std::process::Command::new(PYTHON)
            .args(["-c", "import zmq"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {PYTHON}: {e}; these tests need Python 3 with pyzmq"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pyzmq is not installed: run `pip install pyzmq` (or `{PYTHON} -m pip install pyzmq`; \
                 `.ci/test` does it). `{PYTHON} -c \"import zmq\"` said:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(why) = checked {
        panic!("{why}");
    }
}

/// A running `peer.py`.
struct Peer {
    role: String,
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Collects stderr as it comes, so that a chatty peer never blocks.
    stderr: JoinHandle<String>,
}

impl Peer {
    fn spawn(role: &str, args: &[&str]) -> Peer {
        require_pyzmq();
        let mut child = Command::new(PYTHON)
            .arg(PEER)
            .arg(role)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {PYTHON} {PEER}: {e}"));
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text).await;
            text
        });
        Peer {
            role: role.to_owned(),
            child,
            stdout,
            stderr,
        }
    }

    /// The next line the peer prints.
    async fn line(&mut self) -> String {
        match self.stdout.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => self.fail("its stdout ended early").await,
            Err(e) => self.fail(&format!("cannot read its stdout: {e}")).await,
        }
    }

    /// The endpoint of the next socket the peer bound.
    async fn endpoint(&mut self) -> String {
        let line = self.line().await;
        match line.strip_prefix("ENDPOINT ") {
            Some(endpoint) => endpoint.to_owned(),
            None => {
                self.fail(&format!("expected `ENDPOINT ...`, got {line:?}"))
                    .await
            }
        }
    }

    /// Waits for the peer to exit, asserts that it succeeded, and returns
    /// the rest of what it printed.
    async fn finish(mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(Some(line)) = self.stdout.next_line().await {
            lines.push(line);
        }
        let status = self.child.wait().await.expect("wait for the peer");
        let stderr = (&mut self.stderr).await.unwrap_or_default();
        assert!(
            status.success(),
            "python peer `{}` failed ({status}); stdout: {lines:?}; stderr:\n{stderr}",
            self.role
        );
        lines
    }

    /// Waits for the peer to exit and asserts that its last words were
    /// `expected`.
    async fn finish_with(self, expected: &str) {
        let role = self.role.clone();
        let lines = self.finish().await;
        assert_eq!(
            lines,
            [expected],
            "python peer `{role}` printed something else than expected"
        );
    }

    /// Runs `work` (the test's side of the conversation) while watching
    /// the peer, so that a peer that fails fails the test at once, with
    /// its stderr, instead of leaving `work` waiting for the timeout. A
    /// peer that exits successfully may still have the last messages on
    /// their way: `work` gets a few seconds more to finish.
    async fn alongside<T>(
        &mut self,
        work: impl Future<Output = zmq_tokio::Result<T>>,
    ) -> zmq_tokio::Result<T> {
        let mut work = std::pin::pin!(work);
        let status = tokio::select! {
            out = &mut work => return out,
            status = self.child.wait() => status,
        };
        match status {
            Ok(status) if status.success() => {
                match tokio::time::timeout(Duration::from_secs(5), work).await {
                    Ok(out) => out,
                    Err(_) => {
                        self.fail("it exited successfully, but the test still waits for it")
                            .await
                    }
                }
            }
            Ok(_) => self.fail("it exited while the test still needed it").await,
            Err(e) => self.fail(&format!("cannot wait for it: {e}")).await,
        }
    }

    async fn fail(&mut self, what: &str) -> ! {
        let status = match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            Ok(Err(e)) => format!("cannot wait for it: {e}"),
            Err(_) => "still running".to_owned(),
        };
        let stderr = tokio::time::timeout(Duration::from_secs(5), &mut self.stderr)
            .await
            .map(|text| text.unwrap_or_default())
            .unwrap_or_else(|_| "(not closed)".to_owned());
        panic!(
            "python peer `{}`: {what} ({status}); its stderr:\n{stderr}",
            self.role
        )
    }
}

// The message generators below mirror those of tests/python/peer.py.

/// 256 KiB whose byte `j` is `(i + j) % 251`, sharing one buffer.
fn big_frame(i: usize) -> Bytes {
    static BASE: OnceLock<Bytes> = OnceLock::new();
    let base = BASE.get_or_init(|| (0..BIG + 251).map(|j| (j % 251) as u8).collect());
    let offset = i % 251;
    base.slice(offset..offset + BIG)
}

fn frames<M: Into<Message>>(frames: impl IntoIterator<Item = M>) -> Multipart {
    frames.into_iter().map(Into::into).collect()
}

/// Message `i` of the PUSH/PULL streams.
fn pattern(i: usize) -> Multipart {
    let index = i.to_string();
    if i % 250 == 7 {
        frames([
            Message::from("big"),
            Message::from(index),
            Message::from(big_frame(i)),
        ])
    } else if i % 3 == 0 {
        frames([
            Message::from("multi"),
            Message::from(index),
            Message::new(),
            Message::from(vec![b'x'; i % 50]),
        ])
    } else {
        Multipart::from(format!("msg-{i}"))
    }
}

/// Messages with awkward frames: empty ones, many, binary, large ones
/// (zero-copy from `Bytes`), sizes around the copy threshold.
fn tricky() -> Vec<Multipart> {
    vec![
        frames([Message::new()]),
        frames([Message::new(), Message::new(), Message::new()]),
        frames((0..100).map(|k| format!("frame-{k}"))),
        frames([(0..=255u8).collect::<Vec<u8>>(), vec![0xff, 0xfe, 0x00]]),
        frames([
            Message::from("head"),
            Message::from(big_frame(1)),
            Message::from("tail"),
        ]),
        frames([Message::from(big_frame(2)), Message::new()]),
        frames([vec![b'a'; 1025], vec![b'b'; 1024], vec![b'c'; 1023]]),
    ]
}

const TOPICS: [&str; 10] = [
    "a.one", "b|two", "a", "ab.x", "c.a.", "a.", "b|", "b", "", "A.caps",
];

/// The data messages of the PUB/SUB tests (probes and END aside).
fn pubsub_stream() -> Vec<Multipart> {
    (0..200)
        .map(|i| {
            let mut msg = frames([TOPICS[i % TOPICS.len()].to_owned(), i.to_string()]);
            if i % 4 == 0 {
                msg.push_back("extra");
                msg.push_back(Message::new());
            }
            msg
        })
        .collect()
}

fn matches_any(msg: &Multipart, prefixes: &[&str]) -> bool {
    prefixes
        .iter()
        .any(|p| msg.first().is_some_and(|f| f.starts_with(p.as_bytes())))
}

/// Asserts that every frame but the last says more frames follow.
fn assert_more_flags(msg: &Multipart) {
    for (k, frame) in msg.iter().enumerate() {
        assert_eq!(
            frame.more(),
            k + 1 < msg.len(),
            "frame {k} of {} has the wrong more() flag",
            msg.len()
        );
    }
}

#[test]
fn pyzmq_is_installed() {
    require_pyzmq();
}

#[tokio::test(flavor = "current_thread")]
async fn our_req_to_pyzmq_rep() {
    bounded("interop test", TEST_TIMEOUT, async {
        let mut peer = Peer::spawn("rep", &[]);
        let req = Socket::new(SocketType::Req)?;
        req.connect(&peer.endpoint().await)?;
        peer.alongside(async {
            for i in 0..100usize {
                let mut request = frames([format!("request-{i}"), "abc".to_owned()]);
                if i % 25 == 0 {
                    request.push_back(big_frame(i));
                    request.push_back(Message::new());
                }
                req.send(request.clone()).await?;
                let reply = req.recv().await?;
                let mut expected = frames(["reply"]);
                for frame in &request {
                    expected.push_back(frame.iter().rev().copied().collect::<Vec<u8>>());
                }
                assert_eq!(reply, expected, "reply {i}");
                assert_more_flags(&reply);
            }
            req.send("STOP").await?;
            assert_eq!(req.recv_string().await?, "BYE");
            Ok(())
        })
        .await?;
        peer.finish_with("OK 100").await;
        Ok::<_, zmq_tokio::Error>(())
    })
    .await
    .unwrap_or_else(|e| panic!("zmq-tokio error: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzmq_req_to_our_rep() {
    bounded("interop test", TEST_TIMEOUT, async {
        let rep = Socket::new(SocketType::Rep)?;
        let endpoint = rep.bind("tcp://127.0.0.1:*")?;
        let mut peer = Peer::spawn("req", &[&endpoint, "200"]);
        let ascending: Vec<u8> = (0..=255u8).collect();
        let descending: Vec<u8> = ascending.iter().rev().copied().collect();
        peer.alongside(async {
            for i in 0..200usize {
                let mut request = rep.recv().await?;
                assert_eq!(request.len(), if i % 50 == 0 { 4 } else { 3 }, "{i}");
                assert_eq!(request[0], "q");
                assert_eq!(request[1], i.to_string().as_str());
                assert_eq!(request[2], ascending[..]);
                let mut reply = frames([
                    b"a".to_vec(),
                    (i * 2).to_string().into_bytes(),
                    descending.clone(),
                ]);
                if request.len() == 4 {
                    let big = request.pop_back().expect("4 frames");
                    assert_eq!(big[..], big_frame(i)[..], "big frame of request {i}");
                    reply.push_back(big);
                }
                rep.send(reply).await?;
            }
            Ok(())
        })
        .await?;
        // The peer checks every reply.
        peer.finish_with("OK 200").await;
        Ok::<_, zmq_tokio::Error>(())
    })
    .await
    .unwrap_or_else(|e| panic!("zmq-tokio error: {e}"));
}

#[tokio::test(flavor = "current_thread")]
async fn our_pub_to_pyzmq_sub() {
    bounded("interop test", TEST_TIMEOUT, async {
        const PREFIXES: [&str; 2] = ["a.", "c."];
        let publisher = Socket::new(SocketType::Pub)?;
        let pub_endpoint = publisher.bind("tcp://127.0.0.1:*")?;
        let report = Socket::new(SocketType::Pull)?;
        let report_endpoint = report.bind("tcp://127.0.0.1:*")?;
        let mut peer = Peer::spawn(
            "sub",
            &[&pub_endpoint, &report_endpoint, PREFIXES[0], PREFIXES[1]],
        );
        let stream = pubsub_stream();
        let expected: Vec<Multipart> = stream
            .iter()
            .filter(|m| matches_any(m, &PREFIXES))
            .cloned()
            .collect();
        assert!(!expected.is_empty() && expected.len() < stream.len());

        let got = peer
            .alongside(async {
                // Slow joiner: a PUB drops what it sends before the
                // subscriber's subscriptions have reached it, and nothing
                // tells the publisher when they have. So publish a probe
                // per prefix, again and again, until the subscriber reports
                // on the side channel that a probe of each of its prefixes
                // arrived; from then on its subscriptions are in place and
                // every matching message reaches it, in order.
                let mut probe_tick = tokio::time::interval(Duration::from_millis(20));
                let ready = loop {
                    tokio::select! {
                        _ = probe_tick.tick() => {
                            for prefix in PREFIXES {
                                publisher.send(format!("{prefix}PROBE")).await?;
                            }
                        }
                        msg = report.recv() => break msg?,
                    }
                };
                assert_eq!(ready, Multipart::from("READY"));

                for msg in &stream {
                    publisher.send(msg.clone()).await?;
                }
                publisher.send(format!("{}END", PREFIXES[0])).await?;

                let mut got = Vec::new();
                loop {
                    let mut msg = report.recv().await?;
                    let kind = msg.pop_front().expect("a report has a kind frame");
                    match &kind[..] {
                        b"GOT" => got.push(msg),
                        b"DONE" => {
                            assert_eq!(msg, Multipart::from(got.len().to_string()));
                            return Ok(got);
                        }
                        other => panic!("unexpected report {:?}", other.escape_ascii().to_string()),
                    }
                }
            })
            .await?;
        assert_eq!(got, expected, "what pyzmq's SUB received");
        peer.finish_with(&format!("OK {}", expected.len())).await;
        Ok::<_, zmq_tokio::Error>(())
    })
    .await
    .unwrap_or_else(|e| panic!("zmq-tokio error: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzmq_pub_to_our_sub() {
    bounded("interop test", TEST_TIMEOUT, async {
        const PREFIXES: [&str; 2] = ["a.", "b|"];
        let mut peer = Peer::spawn("pub", &PREFIXES);
        let pub_endpoint = peer.endpoint().await;
        let control_endpoint = peer.endpoint().await;
        let sub = Socket::new(SocketType::Sub)?;
        for prefix in PREFIXES {
            sub.subscribe(prefix)?;
        }
        sub.connect(&pub_endpoint)?;
        let control = Socket::new(SocketType::Push)?;
        control.connect(&control_endpoint)?;
        let stream = pubsub_stream();
        let expected: Vec<Multipart> = stream
            .iter()
            .filter(|m| matches_any(m, &PREFIXES))
            .cloned()
            .collect();
        assert!(!expected.is_empty() && expected.len() < stream.len());

        let got = peer
            .alongside(async {
                // Slow joiner, seen from the subscriber: the peer publishes
                // probes of each prefix until we say READY. A probe that
                // arrives proves that its subscription is in place at the
                // publisher; once every prefix's probe did, nothing
                // matching can be dropped any more.
                let probes: Vec<String> = PREFIXES.iter().map(|p| format!("{p}PROBE")).collect();
                let mut unseen = probes.clone();
                while !unseen.is_empty() {
                    let msg = sub.recv().await?;
                    assert_eq!(msg.len(), 1, "a probe has one frame: {msg:?}");
                    unseen.retain(|p| msg[0] != p.as_str());
                }
                control.send("READY").await?;

                let end = format!("{}END", PREFIXES[0]);
                let mut got = Vec::new();
                loop {
                    let msg = sub.recv().await?;
                    assert_more_flags(&msg);
                    if msg.len() == 1 && probes.iter().any(|p| msg[0] == p.as_str()) {
                        continue; // sent before our READY arrived
                    }
                    if msg.len() == 1 && msg[0] == end.as_str() {
                        return Ok(got);
                    }
                    got.push(msg);
                }
            })
            .await?;
        assert_eq!(got, expected, "what our SUB received");
        assert!(sub.try_recv()?.is_none(), "nothing after END");
        peer.finish_with(&format!("OK {}", stream.len())).await;
        Ok::<_, zmq_tokio::Error>(())
    })
    .await
    .unwrap_or_else(|e| panic!("zmq-tokio error: {e}"));
}

const STREAM_LEN: usize = 3000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_push_to_pyzmq_pull() {
    bounded("interop test", TEST_TIMEOUT, async {
        let push = Socket::new(SocketType::Push)?;
        // A small high-water mark, so that backpressure (send waiting for
        // room) is exercised, not just queueing.
        push.set(options::SNDHWM, 100)?;
        let endpoint = push.bind("tcp://127.0.0.1:*")?;
        let mut peer = Peer::spawn("pull", &[&endpoint, &STREAM_LEN.to_string()]);
        let total = peer
            .alongside(async {
                let mut total = 0;
                for i in 0..STREAM_LEN {
                    let msg = pattern(i);
                    total += msg.iter().map(|f| f.len()).sum::<usize>();
                    push.send(msg).await?;
                }
                push.send("END").await?;
                Ok(total)
            })
            .await?;
        // The peer checks every message against pattern(i), in order.
        peer.finish_with(&format!("OK {STREAM_LEN} {total}")).await;
        Ok::<_, zmq_tokio::Error>(())
    })
    .await
    .unwrap_or_else(|e| panic!("zmq-tokio error: {e}"));
}

#[tokio::test(flavor = "current_thread")]
async fn pyzmq_push_to_our_pull() {
    bounded("interop test", TEST_TIMEOUT, async {
        let mut peer = Peer::spawn("push", &[&STREAM_LEN.to_string()]);
        let pull = Socket::new(SocketType::Pull)?;
        pull.set(options::RCVHWM, 100)?;
        pull.connect(&peer.endpoint().await)?;
        peer.alongside(async {
            let mut big_frames = 0;
            for i in 0..STREAM_LEN {
                let msg = pull.recv().await?;
                assert_more_flags(&msg);
                let expected = pattern(i);
                if msg != expected {
                    panic!("message {i}: expected {expected:?}, got {msg:?}");
                }
                if msg.iter().any(|f| f.len() == BIG) {
                    big_frames += 1;
                }
            }
            assert_eq!(big_frames, STREAM_LEN.div_ceil(250));
            assert_eq!(pull.recv_string().await?, "END");
            Ok(())
        })
        .await?;
        peer.finish_with(&format!("OK {STREAM_LEN}")).await;
        assert!(pull.try_recv()?.is_none(), "nothing after END");
        Ok::<_, zmq_tokio::Error>(())
    })
    .await
    .unwrap_or_else(|e| panic!("zmq-tokio error: {e}"));
}

#[tokio::test(flavor = "current_thread")]
async fn multipart_frames_survive_both_ways() {
    bounded("interop test", TEST_TIMEOUT, async {
        let mut peer = Peer::spawn("pair", &[]);
        let pair = Socket::new(SocketType::Pair)?;
        pair.connect(&peer.endpoint().await)?;
        let sent = tricky();
        peer.alongside(async {
            // Ours → pyzmq → ours: pyzmq echoes each message as it got it.
            for msg in &sent {
                pair.send(msg.clone()).await?;
                let echo = pair.recv().await?;
                assert_eq!(&echo, msg, "echo of a {}-frame message", msg.len());
                assert_more_flags(&echo);
            }
            // And all at once, so that pipelined messages stay apart.
            for msg in &sent {
                pair.send(msg.clone()).await?;
            }
            for msg in &sent {
                assert_eq!(&pair.recv().await?, msg, "pipelined echo");
            }
            pair.send("STOP").await?;

            // pyzmq → ours: the same messages, built by pyzmq.
            for (k, expected) in sent.iter().enumerate() {
                let msg = pair.recv().await?;
                assert_eq!(&msg, expected, "pyzmq's tricky message {k}");
                assert_more_flags(&msg);
            }
            assert_eq!(pair.recv_string().await?, "DONE");
            Ok(())
        })
        .await?;
        peer.finish_with(&format!("OK {}", 2 * sent.len())).await;
        Ok::<_, zmq_tokio::Error>(())
    })
    .await
    .unwrap_or_else(|e| panic!("zmq-tokio error: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_dealer_to_pyzmq_router() {
    bounded("interop test", TEST_TIMEOUT, async {
        let mut peer = Peer::spawn("router", &[]);
        let dealer = Socket::new(SocketType::Dealer)?;
        dealer.set(options::ROUTING_ID, b"rust-dealer".to_vec())?;
        dealer.connect(&peer.endpoint().await)?;
        peer.alongside(async {
            // Pipelined: all requests first, then all answers, in order.
            for i in 0..50usize {
                dealer
                    .send(frames(["job".to_owned(), i.to_string()]))
                    .await?;
            }
            for i in 0..50usize {
                let answer = dealer.recv().await?;
                let expected = frames([
                    "echo".to_owned(),
                    "rust-dealer".to_owned(),
                    "job".to_owned(),
                    i.to_string(),
                ]);
                assert_eq!(
                    answer, expected,
                    "answer {i}: the router saw our routing id"
                );
            }
            dealer.send("STOP").await?;
            assert_eq!(dealer.recv_string().await?, "BYE");
            Ok(())
        })
        .await?;
        peer.finish_with("OK 50").await;
        Ok::<_, zmq_tokio::Error>(())
    })
    .await
    .unwrap_or_else(|e| panic!("zmq-tokio error: {e}"));
}

#[tokio::test(flavor = "current_thread")]
async fn pyzmq_dealer_to_our_router() {
    bounded("interop test", TEST_TIMEOUT, async {
        let router = Socket::new(SocketType::Router)?;
        let endpoint = router.bind("tcp://127.0.0.1:*")?;
        let mut peer = Peer::spawn("dealer", &[&endpoint, "py-dealer", "50"]);
        peer.alongside(async {
            for i in 0..50usize {
                let mut msg = router.recv().await?;
                let id = msg.pop_front().expect("a routing id frame");
                assert_eq!(id, "py-dealer", "the dealer's ROUTING_ID");
                assert_eq!(msg, frames(["job".to_owned(), i.to_string()]));
                let answer = frames([
                    id,
                    Message::from("done"),
                    Message::from(i.to_string()),
                    Message::from("py-dealer"),
                ]);
                router.send(answer).await?;
            }
            Ok(())
        })
        .await?;
        // The peer checks every answer.
        peer.finish_with("OK 50").await;
        Ok::<_, zmq_tokio::Error>(())
    })
    .await
    .unwrap_or_else(|e| panic!("zmq-tokio error: {e}"));
}
