//! Cancel safety (SPEC §2.2): a dropped `recv` takes no message, a dropped
//! `send` sends nothing, ever; no frame is lost, duplicated or interleaved;
//! a cancelled readiness wait leaves the socket working.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, timeout};
use zmq_tokio::{options, Multipart, Socket, SocketType, TrySendError};

mod support;
use support::bounded;

/// Bound on every test body: a hang fails instead of stalling the suite.
const TEST_LIMIT: Duration = Duration::from_secs(20);

/// A unique inproc endpoint for this process.
fn inproc(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "inproc://cancel-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Message `i`: three frames whose contents all name `i`.
fn numbered(i: u32) -> Multipart {
    Multipart::from(vec![
        format!("msg-{i}").into_bytes(),
        i.to_be_bytes().to_vec(),
        format!("tail-{i}-{}", "x".repeat((i % 7) as usize)).into_bytes(),
    ])
}

/// Checks that `msg` is exactly `numbered(i)`.
fn assert_numbered(msg: &Multipart, i: u32) {
    assert_eq!(
        msg.len(),
        3,
        "message {i} has {} frames: {msg:?}",
        msg.len()
    );
    assert_eq!(msg, &numbered(i), "message {i} is garbled or interleaved");
}

/// `recv` raced against a short timer that usually wins, while a peer sends
/// numbered multipart messages at an uneven pace. Every message must arrive
/// exactly once, in order, whole.
async fn recv_raced_against_timer(tag: &str) {
    const N: u32 = 300;
    let endpoint = inproc(tag);
    let pull = Socket::new(SocketType::Pull).expect("pull socket");
    pull.bind(&endpoint).expect("bind pull");
    let push = Socket::new(SocketType::Push).expect("push socket");
    push.connect(&endpoint).expect("connect push");

    let sender = tokio::spawn(async move {
        for i in 0..N {
            push.send(numbered(i)).await.expect("send");
            // Uneven pace: bursts (recv wins) and gaps of 1-3 ms (the timer
            // wins while recv is parked).
            match i % 5 {
                0 | 1 => {}
                2 => tokio::task::yield_now().await,
                n => sleep(Duration::from_millis(u64::from(n) - 2)).await,
            }
        }
        push
    });

    let mut received: Vec<Multipart> = Vec::with_capacity(N as usize);
    let mut timer_won = 0usize;
    let mut recv_won = 0usize;
    while received.len() < N as usize {
        tokio::select! {
            // biased, recv first: the timer can only win after recv was
            // polled and returned Pending, so every timer win really drops
            // a pending recv future.
            biased;
            msg = pull.recv() => {
                received.push(msg.expect("recv"));
                recv_won += 1;
            }
            () = sleep(Duration::from_micros(300)) => timer_won += 1,
        }
    }
    let push = sender.await.expect("sender task");

    for (i, msg) in received.iter().enumerate() {
        assert_numbered(msg, i as u32);
    }
    // Nothing extra arrives: no duplicate of a message taken by a
    // cancelled recv. A final marker proves the queue is empty up to it.
    push.send("end").await.expect("send end");
    let last = pull.recv().await.expect("recv end");
    assert_eq!(last, Multipart::from("end"), "unexpected extra message");
    assert!(pull.try_recv().expect("try_recv").is_none());

    assert_eq!(recv_won, N as usize);
    assert!(
        timer_won > 0,
        "the timer never won: no pending recv was cancelled"
    );
    eprintln!("{tag}: {recv_won} receives, {timer_won} cancelled receives");
}

#[tokio::test(flavor = "current_thread")]
async fn recv_cancelled_by_timer_loses_nothing_current_thread() {
    bounded(
        "test timed out",
        TEST_LIMIT,
        recv_raced_against_timer("recv-ct"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_cancelled_by_timer_loses_nothing_multi_thread() {
    bounded(
        "test timed out",
        TEST_LIMIT,
        recv_raced_against_timer("recv-mt"),
    )
    .await;
}

/// Same race, but the receiver is a separate task on the multi-thread
/// runtime while the sender runs on another worker, with a multipart frame
/// count that varies (1 to 4 frames), to catch interleaving of frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_cancelled_variable_frame_counts_multi_thread() {
    bounded("test timed out", TEST_LIMIT, async {
        const N: u32 = 400;
        let endpoint = inproc("varframes");
        let pull = Arc::new(Socket::new(SocketType::Pull).expect("pull"));
        pull.bind(&endpoint).expect("bind");
        let push = Socket::new(SocketType::Push).expect("push");
        push.connect(&endpoint).expect("connect");

        fn message(i: u32) -> Multipart {
            (0..=(i % 4))
                .map(|f| zmq_tokio::Message::from(format!("{i}:{f}")))
                .collect()
        }

        let receiver = {
            let pull = Arc::clone(&pull);
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut cancelled = 0usize;
                while got.len() < N as usize {
                    tokio::select! {
                        biased;
                        msg = pull.recv() => got.push(msg.expect("recv")),
                        () = sleep(Duration::from_micros(200)) => cancelled += 1,
                    }
                }
                (got, cancelled)
            })
        };
        for i in 0..N {
            push.send(message(i)).await.expect("send");
            if i % 3 == 0 {
                sleep(Duration::from_millis(1)).await;
            }
        }
        let (got, cancelled) = receiver.await.expect("receiver task");
        for (i, msg) in got.iter().enumerate() {
            assert_eq!(msg, &message(i as u32), "message {i}");
        }
        assert!(cancelled > 0, "no pending recv was cancelled");
        push.send("end").await.expect("send end");
        assert_eq!(pull.recv().await.expect("recv end"), Multipart::from("end"));
    })
    .await;
}

/// A PUSH/PULL inproc pair with tiny high-water marks; the PULL side does
/// not read until told.
fn tiny_hwm_pair(tag: &str) -> (Socket, Socket) {
    let endpoint = inproc(tag);
    let pull = Socket::new(SocketType::Pull).expect("pull");
    pull.set(options::RCVHWM, 1).expect("set RCVHWM");
    pull.bind(&endpoint).expect("bind");
    let push = Socket::new(SocketType::Push).expect("push");
    push.set(options::SNDHWM, 1).expect("set SNDHWM");
    push.connect(&endpoint).expect("connect");
    (push, pull)
}

/// Fills `push` with numbered messages until `try_send` reports Full;
/// returns how many went in. Checks that the refused message comes back
/// whole.
fn fill(push: &Socket) -> u32 {
    let mut sent = 0u32;
    loop {
        let msg = numbered(sent);
        match push.try_send(msg.clone()) {
            Ok(()) => sent += 1,
            Err(TrySendError::Full(back)) => {
                assert_eq!(back, msg, "try_send did not return the message intact");
                return sent;
            }
            Err(e) => panic!("try_send failed: {e}"),
        }
        assert!(sent < 1000, "HWM of 1 never filled up");
    }
}

async fn send_cancelled_at_hwm_body() {
    let (push, pull) = tiny_hwm_pair("hwm");
    let filled = fill(&push);
    assert!(filled >= 1, "nothing could be sent before Full");

    // Several cancelled sends, single- and multi-frame: each must really be
    // pending (the timeout wins), and none may ever be delivered.
    let markers = [
        Multipart::from("cancelled-marker-1"),
        Multipart::from(["cancelled", "marker", "2"]),
        Multipart::from(vec![vec![0xAAu8; 4096], vec![0xBB; 10]]),
    ];
    for marker in &markers {
        let outcome = timeout(Duration::from_millis(30), push.send(marker.clone())).await;
        assert!(
            outcome.is_err(),
            "send at a full HWM completed instead of waiting: {outcome:?}"
        );
    }
    // The socket is still full: the cancelled sends did not sneak in.
    assert!(
        push.try_send("probe").unwrap_err().is_full(),
        "socket took a message after cancelled sends"
    );

    // Drain everything the peer has, then send a terminator and read up to
    // it: any cancelled marker delivered late would show up before it.
    let mut got = Vec::new();
    for _ in 0..filled {
        got.push(
            timeout(Duration::from_secs(5), pull.recv())
                .await
                .expect("drain timed out")
                .expect("recv"),
        );
    }
    push.send("end").await.expect("send end");
    loop {
        let msg = timeout(Duration::from_secs(5), pull.recv())
            .await
            .expect("recv end timed out")
            .expect("recv");
        if msg == Multipart::from("end") {
            break;
        }
        got.push(msg);
    }
    assert_eq!(
        got.len(),
        filled as usize,
        "expected exactly the {filled} filled messages, got {got:?}"
    );
    for (i, msg) in got.iter().enumerate() {
        assert_numbered(msg, i as u32);
        assert!(!markers.contains(msg), "a cancelled send was delivered");
    }
    // Nothing after the end marker either.
    sleep(Duration::from_millis(20)).await; // give a stray late delivery a chance to show
    assert!(pull.try_recv().expect("try_recv").is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn send_cancelled_at_hwm_sends_nothing_current_thread() {
    bounded("test timed out", TEST_LIMIT, send_cancelled_at_hwm_body()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_cancelled_at_hwm_sends_nothing_multi_thread() {
    bounded("test timed out", TEST_LIMIT, send_cancelled_at_hwm_body()).await;
}

/// A send raced in `select!` against a timer while the reader drains slowly:
/// sends that lose the race are retried with the *same* number, so the
/// reader must see every number exactly once and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_raced_against_timer_no_duplicates() {
    bounded("test timed out", TEST_LIMIT, async {
        const N: u32 = 150;
        let (push, pull) = tiny_hwm_pair("send-race");
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..N {
                got.push(pull.recv().await.expect("recv"));
                if i % 4 == 0 {
                    sleep(Duration::from_millis(1)).await;
                }
            }
            (got, pull)
        });
        let mut cancelled = 0usize;
        let mut i = 0u32;
        while i < N {
            tokio::select! {
                biased;
                r = push.send(numbered(i)) => {
                    r.expect("send");
                    i += 1;
                }
                () = sleep(Duration::from_micros(300)) => cancelled += 1,
            }
        }
        let (got, pull) = reader.await.expect("reader task");
        for (i, msg) in got.iter().enumerate() {
            assert_numbered(msg, i as u32);
        }
        assert!(cancelled > 0, "no pending send was cancelled");
        push.send("end").await.expect("send end");
        assert_eq!(
            pull.recv().await.expect("recv end"),
            Multipart::from("end"),
            "a cancelled send was delivered after all"
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn cancelled_readable_leaves_socket_working() {
    bounded("test timed out", TEST_LIMIT, async {
        let endpoint = inproc("readable");
        let pull = Socket::new(SocketType::Pull).expect("pull");
        pull.bind(&endpoint).expect("bind");
        let push = Socket::new(SocketType::Push).expect("push");
        push.connect(&endpoint).expect("connect");

        for round in 0..5 {
            let r = timeout(Duration::from_millis(10), pull.readable()).await;
            assert!(r.is_err(), "readable resolved with nothing to read: {r:?}");
            let r = timeout(Duration::from_millis(10), pull.recv()).await;
            assert!(r.is_err(), "recv resolved with nothing to read: {r:?}");

            push.send(format!("round-{round}")).await.expect("send");
            timeout(Duration::from_secs(5), pull.readable())
                .await
                .expect("readable never fired after cancellations")
                .expect("readable");
            assert!(pull.events().expect("events").is_readable());
            let msg = pull.recv_string().await.expect("recv");
            assert_eq!(msg, format!("round-{round}"));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_readable_then_message_from_other_task() {
    bounded("test timed out", TEST_LIMIT, async {
        let endpoint = inproc("readable-mt");
        let pull = Arc::new(Socket::new(SocketType::Pull).expect("pull"));
        pull.bind(&endpoint).expect("bind");
        let push = Socket::new(SocketType::Push).expect("push");
        push.connect(&endpoint).expect("connect");

        // Cancel a readable() wait, then start a fresh one on another task
        // and send while it waits: it must wake.
        assert!(timeout(Duration::from_millis(10), pull.readable())
            .await
            .is_err());
        let waiter = {
            let pull = Arc::clone(&pull);
            tokio::spawn(async move {
                pull.readable().await.expect("readable");
                pull.recv_string().await.expect("recv")
            })
        };
        tokio::task::yield_now().await;
        push.send("wake").await.expect("send");
        let got = timeout(Duration::from_secs(5), waiter)
            .await
            .expect("waiter never woke")
            .expect("waiter task");
        assert_eq!(got, "wake");
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn cancelled_writable_leaves_socket_working() {
    bounded("test timed out", TEST_LIMIT, async {
        let (push, pull) = tiny_hwm_pair("writable");
        let filled = fill(&push);
        assert!(!push.events().expect("events").is_writable());

        for _ in 0..3 {
            let r = timeout(Duration::from_millis(10), push.writable()).await;
            assert!(r.is_err(), "writable resolved at a full HWM: {r:?}");
        }

        // Drain: the socket becomes writable again and sends work.
        for i in 0..filled {
            let msg = timeout(Duration::from_secs(5), pull.recv())
                .await
                .expect("drain timed out")
                .expect("recv");
            assert_numbered(&msg, i);
        }
        timeout(Duration::from_secs(5), push.writable())
            .await
            .expect("writable never fired after draining")
            .expect("writable");
        push.send("after").await.expect("send after");
        let msg = timeout(Duration::from_secs(5), pull.recv_string())
            .await
            .expect("recv timed out")
            .expect("recv");
        assert_eq!(msg, "after");
        assert!(pull.try_recv().expect("try_recv").is_none());
    })
    .await;
}
