//! Zero-copy frames (SPEC §2.8): large frames are never copied between the
//! caller's `Bytes` and libzmq, in either direction, and every owner is
//! dropped exactly once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::time::timeout;
use zmq_tokio::{Message, Multipart, Socket, SocketType};

mod support;
use support::{bounded, unique_inproc};

const TEST_LIMIT: Duration = Duration::from_secs(20);
const BIG: usize = 1024 * 1024;

/// A buffer owner that counts its drops.
struct Tracked {
    data: Vec<u8>,
    drops: Arc<AtomicUsize>,
}

impl AsRef<[u8]> for Tracked {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// A `Bytes` of `len` patterned bytes whose owner counts its drops.
fn tracked(len: usize) -> (Bytes, Arc<AtomicUsize>) {
    let drops = Arc::new(AtomicUsize::new(0));
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let bytes = Bytes::from_owner(Tracked {
        data,
        drops: Arc::clone(&drops),
    });
    (bytes, drops)
}

fn pattern_ok(data: &[u8], len: usize) -> bool {
    data.len() == len && data.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8)
}

/// Waits (up to `limit`) for the counter to reach `want`; returns its value.
async fn wait_for_count(counter: &AtomicUsize, want: usize, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let now = counter.load(Ordering::SeqCst);
        if now >= want || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Checks that the counter stays at `want` for `period` (no late second
/// drop from a free callback running twice).
async fn assert_stays(counter: &AtomicUsize, want: usize, period: Duration) {
    let deadline = Instant::now() + period;
    while Instant::now() < deadline {
        assert_eq!(counter.load(Ordering::SeqCst), want, "drop count changed");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(counter.load(Ordering::SeqCst), want, "drop count changed");
}

/// A connected PAIR over inproc: (sender, receiver).
fn inproc_pair(tag: &str) -> (Socket, Socket) {
    let endpoint = unique_inproc(tag);
    let rx = Socket::new(SocketType::Pair).expect("pair");
    rx.bind(&endpoint).expect("bind");
    let tx = Socket::new(SocketType::Pair).expect("pair");
    tx.connect(&endpoint).expect("connect");
    (tx, rx)
}

/// A connected PAIR over tcp on loopback: (sender, receiver).
fn tcp_pair() -> (Socket, Socket) {
    let rx = Socket::new(SocketType::Pair).expect("pair");
    let endpoint = rx.bind("tcp://127.0.0.1:*").expect("bind");
    let tx = Socket::new(SocketType::Pair).expect("pair");
    tx.connect(&endpoint).expect("connect");
    (tx, rx)
}

async fn recv_one(rx: &Socket) -> Message {
    let mut msg = timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("recv timed out")
        .expect("recv");
    assert_eq!(msg.len(), 1, "expected one frame");
    msg.pop_front().expect("one frame")
}

#[test]
fn big_test_frames_exceed_the_copy_threshold() {
    // Otherwise the tests below would test the copy path.
    const { assert!(BIG > Message::COPY_THRESHOLD) };
    const { assert!(64 * 1024 > Message::COPY_THRESHOLD) };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bytes_over_inproc_are_not_copied() {
    bounded("test timed out", TEST_LIMIT, async {
        let (tx, rx) = inproc_pair("bytes");
        let (bytes, drops) = tracked(BIG);
        let ptr = bytes.as_ptr();

        tx.send(bytes).await.expect("send");
        let frame = recv_one(&rx).await;
        assert_eq!(frame.as_ptr(), ptr, "inproc frame was copied");
        assert!(pattern_ok(&frame, BIG), "content changed");
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "owner dropped while in use"
        );

        let received = frame.into_bytes();
        assert_eq!(received.as_ptr(), ptr, "into_bytes copied the frame");
        assert_eq!(received.len(), BIG);
        // A slice of it still pins the owner.
        let slice = received.slice(10..20);
        drop(received);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "owner dropped while sliced"
        );
        assert_eq!(slice.as_ptr(), ptr.wrapping_add(10));
        drop(slice);

        assert_eq!(drops.load(Ordering::SeqCst), 1, "owner not dropped");
        assert_stays(&drops, 1, Duration::from_millis(50)).await;
        drop((tx, rx));
        assert_stays(&drops, 1, Duration::from_millis(20)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bytes_over_tcp_free_callback_runs_once() {
    bounded("test timed out", TEST_LIMIT, async {
        let (tx, rx) = tcp_pair();
        let (bytes, drops) = tracked(BIG);
        let ptr = bytes.as_ptr();

        tx.send(bytes).await.expect("send");
        let frame = recv_one(&rx).await;
        assert_ne!(frame.as_ptr(), ptr, "a tcp frame cannot share memory");
        assert!(pattern_ok(&frame, BIG), "content changed over tcp");

        // libzmq frees the sent buffer on its I/O thread once written.
        let n = wait_for_count(&drops, 1, Duration::from_secs(5)).await;
        assert_eq!(n, 1, "free callback did not run exactly once");

        // The received large frame goes to Bytes without a copy too.
        let frame_ptr = frame.as_ptr();
        let received = frame.into_bytes();
        assert_eq!(
            received.as_ptr(),
            frame_ptr,
            "into_bytes copied a tcp frame"
        );
        assert!(pattern_ok(&received, BIG));
        drop(received);

        assert_stays(&drops, 1, Duration::from_millis(50)).await;
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn small_frames_are_copied_and_released_at_once() {
    bounded("test timed out", TEST_LIMIT, async {
        let (tx, rx) = inproc_pair("small");
        for len in [
            0,
            1,
            33,
            34,
            100,
            Message::COPY_THRESHOLD - 1,
            Message::COPY_THRESHOLD,
        ] {
            let (bytes, drops) = tracked(len);
            let ptr = bytes.as_ptr();
            let msg = Message::from(bytes);
            assert_eq!(
                drops.load(Ordering::SeqCst),
                1,
                "a {len}-byte owner was kept instead of copied"
            );
            assert!(pattern_ok(&msg, len));
            if len > 0 {
                assert_ne!(msg.as_ptr(), ptr, "{len}-byte frame was not copied");
            }
            tx.send(msg).await.expect("send");
            let frame = recv_one(&rx).await;
            assert!(pattern_ok(&frame, len), "{len}-byte frame garbled");
            if len > 0 {
                assert_ne!(frame.as_ptr(), ptr);
            }
            // into_bytes of a small frame copies: the owner stays at 1.
            let b = frame.into_bytes();
            assert!(pattern_ok(&b, len));
            assert_eq!(drops.load(Ordering::SeqCst), 1, "{len}: dropped twice");
        }
        // The first size above the threshold is zero-copy.
        let (bytes, drops) = tracked(Message::COPY_THRESHOLD + 1);
        let ptr = bytes.as_ptr();
        let msg = Message::from(bytes);
        assert_eq!(msg.as_ptr(), ptr, "threshold+1 bytes was copied");
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(msg);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_of_a_received_frame_share_data() {
    bounded("test timed out", TEST_LIMIT, async {
        let (tx, rx) = inproc_pair("clone");
        let (bytes, drops) = tracked(BIG);
        let ptr = bytes.as_ptr();
        tx.send(bytes).await.expect("send");
        let frame = recv_one(&rx).await;
        assert_eq!(frame.as_ptr(), ptr);

        let mut clones: Vec<Message> = (0..8).map(|_| frame.clone()).collect();
        clones.push(clones[3].clone()); // a clone of a clone
        for c in &clones {
            assert_eq!(c.as_ptr(), ptr, "clone copied the data");
            assert_eq!(c.len(), BIG);
        }
        // Drop in a scrambled order, the original in the middle.
        for i in [5, 0, 7] {
            drop(clones.remove(i.min(clones.len() - 1)));
        }
        drop(frame);
        assert_eq!(drops.load(Ordering::SeqCst), 0, "dropped while clones live");
        while let Some(c) = clones.pop() {
            assert_eq!(drops.load(Ordering::SeqCst), 0);
            assert!(pattern_ok(&c, BIG));
            drop(c);
        }
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_stays(&drops, 1, Duration::from_millis(30)).await;

        // A Multipart clone shares its large frames too.
        let (bytes, drops) = tracked(BIG);
        let ptr = bytes.as_ptr();
        tx.send(Multipart::from(vec![Bytes::from_static(b"head"), bytes]))
            .await
            .expect("send multipart");
        let msg = timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("recv timed out")
            .expect("recv");
        let copy = msg.clone();
        assert_eq!(copy[1].as_ptr(), ptr);
        assert_eq!(msg[1].as_ptr(), ptr);
        drop(msg);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(copy);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clones_from_threads() {
    bounded("test timed out", TEST_LIMIT, async {
        let (tx, rx) = inproc_pair("clone-threads");
        for round in 0..20 {
            let (bytes, drops) = tracked(64 * 1024);
            let ptr = bytes.as_ptr() as usize;
            tx.send(bytes).await.expect("send");
            // Never cloned before: the threads race on its first sharing.
            let frame = recv_one(&rx).await;
            let barrier = std::sync::Barrier::new(4);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        let frame: &Message = &frame;
                        barrier.wait();
                        let mut kept = Vec::new();
                        for i in 0..200 {
                            let c = frame.clone();
                            assert_eq!(c.as_ptr() as usize, ptr, "round {round}");
                            assert_eq!(frame.len(), 64 * 1024);
                            if i % 3 == 0 {
                                kept.push(c);
                            }
                        }
                        assert!(kept.iter().all(|c| c.len() == 64 * 1024
                            && c[..64] == frame[..64]
                            && c.last() == frame.last()));
                    });
                }
            });
            assert_eq!(drops.load(Ordering::SeqCst), 0, "round {round}");
            assert!(pattern_ok(&frame, 64 * 1024));
            drop(frame);
            assert_eq!(
                drops.load(Ordering::SeqCst),
                1,
                "round {round}: owner not dropped exactly once"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn large_vec_and_string_are_not_copied() {
    bounded("test timed out", TEST_LIMIT, async {
        let (tx, rx) = inproc_pair("vec");

        let v = vec![0x5Au8; 256 * 1024];
        let p = v.as_ptr();
        tx.send(v).await.expect("send vec");
        let frame = recv_one(&rx).await;
        assert_eq!(frame.as_ptr(), p, "Vec<u8> was copied");
        assert!(frame.iter().all(|&b| b == 0x5A));

        // A Vec with spare capacity (Bytes must not shrink it by copying).
        let mut v = Vec::with_capacity(300 * 1024);
        v.extend(std::iter::repeat_n(7u8, 200 * 1024));
        let p = v.as_ptr();
        tx.send(v).await.expect("send vec with capacity");
        let frame = recv_one(&rx).await;
        assert_eq!(frame.as_ptr(), p, "Vec<u8> with spare capacity was copied");

        let s = "z".repeat(128 * 1024);
        let p = s.as_ptr();
        tx.send(s).await.expect("send string");
        let frame = recv_one(&rx).await;
        assert_eq!(frame.as_ptr(), p, "String was copied");
        assert_eq!(frame.as_str().map(str::len), Some(128 * 1024));

        // Frames of a multipart message built from Vecs keep their memory.
        let a = vec![1u8; 4096];
        let b = vec![2u8; 8192];
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        tx.send(vec![a, b]).await.expect("send vec of vecs");
        let msg = timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("recv timed out")
            .expect("recv");
        assert_eq!(msg.len(), 2);
        assert_eq!(msg[0].as_ptr(), pa);
        assert_eq!(msg[1].as_ptr(), pb);
    })
    .await;
}

/// Many zero-copy frames over tcp and inproc, dropped on both sides: every
/// owner is freed exactly once (no leak, no double free).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_owner_freed_exactly_once_under_load() {
    bounded("test timed out", TEST_LIMIT, async {
        const N: usize = 100;
        for (name, (tx, rx)) in [("inproc", inproc_pair("load")), ("tcp", tcp_pair())] {
            let drops = Arc::new(AtomicUsize::new(0));
            let sender = {
                let drops = Arc::clone(&drops);
                tokio::spawn(async move {
                    for i in 0..N {
                        let owner = Tracked {
                            data: vec![i as u8; 8 * 1024 + i],
                            drops: Arc::clone(&drops),
                        };
                        tx.send(Bytes::from_owner(owner)).await.expect("send");
                    }
                    tx
                })
            };
            for i in 0..N {
                let frame = recv_one(&rx).await;
                assert_eq!(frame.len(), 8 * 1024 + i, "{name}: message {i}");
                assert!(frame.iter().all(|&b| b == i as u8), "{name}: message {i}");
            }
            let tx = sender.await.expect("sender");
            let n = wait_for_count(&drops, N, Duration::from_secs(5)).await;
            assert_eq!(n, N, "{name}: owners freed {n} times for {N} frames");
            assert_stays(&drops, N, Duration::from_millis(30)).await;
            drop((tx, rx));
        }
    })
    .await;
}

/// `recv_into` reuses one `Multipart`: each message replaces the last whole
/// (more, fewer, larger and smaller frames), and a zero-copy frame it held
/// is released as the next message is written over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_into_reuses_one_multipart() {
    bounded("test timed out", TEST_LIMIT, async {
        let (tx, rx) = inproc_pair("recv-into");
        let (big, drops) = tracked(BIG);
        let shapes: [Vec<Vec<u8>>; 4] = [
            vec![b"one".to_vec()],
            vec![b"a".to_vec(), vec![7u8; 5000], Vec::new()],
            vec![vec![1u8; 16], b"z".to_vec()],
            vec![b"last".to_vec()],
        ];

        let mut msg = Multipart::new();
        // A large zero-copy frame first: over inproc the received frame is
        // the sender's buffer, so its owner lives as long as `msg` holds it.
        tx.send(big).await.expect("send big");
        rx.recv_into(&mut msg).await.expect("recv big");
        assert_eq!(msg.len(), 1);
        assert!(pattern_ok(&msg[0], BIG), "big frame content");
        assert_eq!(drops.load(Ordering::SeqCst), 0, "owner dropped in use");

        for (round, shape) in shapes.iter().enumerate() {
            tx.send(shape.clone()).await.expect("send");
            rx.recv_into(&mut msg).await.expect("recv_into");
            let got: Vec<Vec<u8>> = msg.iter().map(|frame| frame.to_vec()).collect();
            assert_eq!(&got, shape, "round {round}");
            for (i, frame) in msg.iter().enumerate() {
                assert_eq!(frame.more(), i + 1 < msg.len(), "more flag, round {round}");
            }
            if round == 0 {
                // The big frame was written over: its owner is released.
                assert_eq!(drops.load(Ordering::SeqCst), 1, "owner not released");
            }
        }
        assert_eq!(drops.load(Ordering::SeqCst), 1, "owner released twice");
    })
    .await;
}

/// A `recv_into` that times out leaves a usable `Multipart` and takes
/// nothing from the socket; the next one gets the message.
#[tokio::test(flavor = "current_thread")]
async fn recv_into_after_timeout_and_cancel() {
    bounded("test timed out", TEST_LIMIT, async {
        let (tx, rx) = inproc_pair("recv-into-timeout");
        let mut msg = Multipart::from("old");
        rx.set(zmq_tokio::options::RCVTIMEO, 20).expect("RCVTIMEO");
        let err = rx.recv_into(&mut msg).await.expect_err("nothing was sent");
        assert!(matches!(err, zmq_tokio::Error::Timeout), "{err:?}");
        // Cancelled by a select: nothing is taken either.
        rx.set(zmq_tokio::options::RCVTIMEO, -1).expect("RCVTIMEO");
        tokio::select! {
            _ = rx.recv_into(&mut msg) => panic!("nothing was sent"),
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        tx.send(["x", "y"]).await.expect("send");
        rx.recv_into(&mut msg).await.expect("recv_into");
        assert_eq!(msg, Multipart::from(["x", "y"]));
    })
    .await;
}

/// Frames libzmq never took are released when dropped, and frames it sent
/// are released exactly once by libzmq, not again by the crate: a sent
/// frame is marked as such and its drop skips `zmq_msg_close`, so this
/// fails if that mark leaked onto a frame that was not sent (a leak) or
/// was missing where libzmq had taken the content (a second release).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsent_frames_are_released_and_sent_ones_once() {
    bounded("test timed out", TEST_LIMIT, async {
        // Not sent: a PUSH with no peer cannot take a message.
        let lonely = Socket::new(SocketType::Push).expect("socket");
        let (a, drops_a) = tracked(BIG);
        let (b, drops_b) = tracked(BIG);
        match lonely.try_send(vec![Message::from(a), Message::from(b)]) {
            Err(zmq_tokio::TrySendError::Full(back)) => {
                assert_eq!(back.len(), 2);
                assert_eq!(drops_a.load(Ordering::SeqCst), 0, "released while held");
                drop(back);
            }
            other => panic!("expected Full, got {other:?}"),
        }
        assert_eq!(
            drops_a.load(Ordering::SeqCst),
            1,
            "unsent frame 1 not released"
        );
        assert_eq!(
            drops_b.load(Ordering::SeqCst),
            1,
            "unsent frame 2 not released"
        );

        // Not sent: a send that gives up after SNDTIMEO drops its message.
        lonely
            .set(zmq_tokio::options::SNDTIMEO, 20)
            .expect("SNDTIMEO");
        let (c, drops_c) = tracked(BIG);
        let result = lonely.send(c).await;
        assert!(
            matches!(result, Err(zmq_tokio::Error::Timeout)),
            "{result:?}"
        );
        assert_eq!(
            drops_c.load(Ordering::SeqCst),
            1,
            "timed-out frame not released"
        );

        // Sent: single and multipart messages, released once each after
        // the receiver drops them.
        let (tx, rx) = inproc_pair("sent-once");
        let mut counters = Vec::new();
        for frames in [1, 3] {
            let mut msg = Multipart::new();
            for _ in 0..frames {
                let (bytes, drops) = tracked(BIG);
                msg.push_back(bytes);
                counters.push(drops);
            }
            tx.send(msg).await.expect("send");
            let got = rx.recv().await.expect("recv");
            assert_eq!(got.len(), frames);
            assert!(got.iter().all(|f| pattern_ok(f, BIG)));
        }
        for (i, drops) in counters.iter().enumerate() {
            let n = wait_for_count(drops, 1, Duration::from_secs(5)).await;
            assert_eq!(n, 1, "sent frame {i} released {n} times");
            assert_stays(drops, 1, Duration::from_millis(20)).await;
        }
    })
    .await;
}
