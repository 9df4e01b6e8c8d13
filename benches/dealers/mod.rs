//! SPEC §3's "1,000 DEALER sockets on one ROUTER" figure for
//! `benches/ratio.rs`: the time to create and connect `count` DEALERs over
//! loopback tcp and complete one round trip each (the DEALER sends 16 B,
//! the ROUTER echoes them), and the memory each socket costs while all are
//! alive.
//!
//! - sync: a ROUTER thread, and one OS thread per DEALER, each making its
//!   own socket (the `zmq` crate, one context);
//! - async: a ROUTER task, and one task per DEALER, on a 2-worker Tokio
//!   runtime (one zmq-tokio context, `max_sockets` 1100).
//!
//! Each side of each round runs in a fresh process (this bench binary run
//! again with `--dealers-child SIDE COUNT`): memory is the growth of the
//! process's VmRSS (`/proc/self/status`) from just before the first DEALER
//! is made to when all have their reply, and in a process that has freed
//! an earlier round's sockets the allocator would hand the same memory out
//! again without the RSS growing. The ROUTER (BACKLOG 1100, above the
//! 1,000 connections arriving at once) and, on the async side, the runtime
//! exist before the first reading; the sync side's context keeps libzmq's
//! default MAX_SOCKETS of 1023, enough for its 1,001 sockets (the `zmq`
//! crate cannot set it).
//!
//! Every wait is bounded by [`LIMIT`]: a hang fails the child, and the
//! parent kills a child that outlives it.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use zmq_tokio::{options, Context, SocketType};

/// The DEALERs of the figure.
pub(crate) const COUNT: usize = 1000;

/// The DEALERs of a test run (`cargo test --benches`).
pub(crate) const TEST_COUNT: usize = 100;

/// The longest any step of a child (and a whole child) may take.
const LIMIT: Duration = Duration::from_secs(60);

/// The flag that makes the bench binary a child.
pub(crate) const CHILD_FLAG: &str = "--dealers-child";

const BODY: [u8; 16] = [0x5a; 16];

/// One side's run: how long `count` DEALERs took to connect and get a reply
/// each, and how many KiB the RSS grew by over them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) time: Duration,
    pub(crate) rss_kib: f64,
}

/// Runs one side in a child process (this binary with [`CHILD_FLAG`]).
pub(crate) fn run_child(side: &str, count: usize) -> Sample {
    let exe = std::env::current_exe().expect("the bench binary's path");
    let mut child = Command::new(exe)
        .args([CHILD_FLAG, side, &count.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the dealers child");
    let deadline = Instant::now() + LIMIT * 2;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the dealers child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the {side} dealers child took longer than {:?}", LIMIT * 2);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("the child's stdout")
        .read_to_string(&mut out)
        .expect("read the child's output");
    assert!(
        status.success(),
        "the {side} dealers child failed: {status}"
    );
    let mut fields = out.split_whitespace().map(|f| f.parse::<f64>());
    match (fields.next(), fields.next()) {
        (Some(Ok(secs)), Some(Ok(rss_kib))) => Sample {
            time: Duration::from_secs_f64(secs),
            rss_kib,
        },
        _ => panic!("the {side} dealers child printed {out:?}"),
    }
}

/// The child: `args` are SIDE COUNT after [`CHILD_FLAG`]; prints the
/// seconds and the KiB of RSS growth.
pub(crate) fn child_main(args: &[String]) {
    let (side, count) = match args {
        [side, count] => (side.as_str(), count.parse().expect("COUNT is a number")),
        _ => panic!("usage: {CHILD_FLAG} sync|async COUNT"),
    };
    let sample = match side {
        "sync" => sync_side(count),
        "async" => async_side(count),
        _ => panic!("{CHILD_FLAG}: side {side:?} is neither sync nor async"),
    };
    println!("{:.6} {:.0}", sample.time.as_secs_f64(), sample.rss_kib);
}

/// The process's resident set in KiB.
fn vm_rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn limit_ms() -> i32 {
    LIMIT.as_millis() as i32
}

/// One OS thread per DEALER, and one for the ROUTER.
fn sync_side(count: usize) -> Sample {
    let ctx = zmq::Context::new();
    let router = ctx.socket(zmq::ROUTER).unwrap();
    router.set_backlog(1100).unwrap();
    router.set_rcvtimeo(limit_ms()).unwrap();
    router.set_sndtimeo(limit_ms()).unwrap();
    router.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = router.get_last_endpoint().unwrap().unwrap();
    let echo = std::thread::spawn(move || {
        for _ in 0..count {
            let request = router.recv_multipart(0).expect("sync ROUTER recv");
            router.send_multipart(request, 0).expect("sync ROUTER send");
        }
        router
    });
    // Set when the measurement is taken: the DEALERs may close.
    let release = Arc::new((Mutex::new(false), Condvar::new()));
    let (done_tx, done) = mpsc::channel();
    let before = vm_rss_kib();
    let begin = Instant::now();
    let dealers: Vec<_> = (0..count)
        .map(|_| {
            let (ctx, endpoint) = (ctx.clone(), endpoint.clone());
            let (release, done_tx) = (release.clone(), done_tx.clone());
            std::thread::spawn(move || {
                let dealer = ctx.socket(zmq::DEALER).unwrap();
                dealer.set_rcvtimeo(limit_ms()).unwrap();
                dealer.set_sndtimeo(limit_ms()).unwrap();
                dealer.connect(&endpoint).unwrap();
                dealer.send(&BODY[..], 0).expect("sync DEALER send");
                let reply = dealer.recv_bytes(0).expect("sync DEALER recv");
                assert_eq!(reply, BODY);
                done_tx.send(()).expect("the main thread is gone");
                let (lock, released) = &*release;
                let guard = lock.lock().unwrap();
                let (_guard, timeout) = released
                    .wait_timeout_while(guard, LIMIT, |released| !*released)
                    .unwrap();
                assert!(!timeout.timed_out(), "never released");
                dealer.set_linger(0).unwrap();
            })
        })
        .collect();
    for _ in 0..count {
        done.recv_timeout(LIMIT)
            .expect("a DEALER thread failed, or took longer than the limit");
    }
    let time = begin.elapsed();
    let rss_kib = vm_rss_kib() - before;
    *release.0.lock().unwrap() = true;
    release.1.notify_all();
    for dealer in dealers {
        dealer.join().expect("a DEALER thread panicked");
    }
    drop(echo.join().expect("the ROUTER thread panicked"));
    Sample { time, rss_kib }
}

/// One task per DEALER, and one for the ROUTER, on a 2-worker runtime.
fn async_side(count: usize) -> Sample {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = Context::builder().max_sockets(1100).build().unwrap();
        let router = ctx.socket(SocketType::Router).unwrap();
        router.set(options::BACKLOG, 1100).unwrap();
        let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
        let echo = tokio::spawn(async move {
            for _ in 0..count {
                let request = router.recv().await.expect("async ROUTER recv");
                router.send(request).await.expect("async ROUTER send");
            }
            router
        });
        // Set when the measurement is taken: the DEALERs may close.
        let (release, released) = tokio::sync::watch::channel(false);
        let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
        let before = vm_rss_kib();
        let begin = Instant::now();
        let dealers: Vec<_> = (0..count)
            .map(|_| {
                let (ctx, endpoint) = (ctx.clone(), endpoint.clone());
                let (mut released, done_tx) = (released.clone(), done_tx.clone());
                tokio::spawn(async move {
                    let dealer = ctx.socket(SocketType::Dealer).unwrap();
                    dealer.connect(&endpoint).unwrap();
                    dealer.send(&BODY[..]).await.expect("async DEALER send");
                    let reply = dealer.recv().await.expect("async DEALER recv");
                    assert_eq!(reply[0], BODY);
                    done_tx.send(()).expect("the main task is gone");
                    let _ = released.wait_for(|&released| released).await;
                    dealer.set(options::LINGER, 0).unwrap();
                })
            })
            .collect();
        let all_done = async {
            for _ in 0..count {
                done.recv().await.expect("a DEALER task failed");
            }
        };
        tokio::time::timeout(LIMIT, all_done)
            .await
            .expect("the DEALERs took longer than the limit");
        let time = begin.elapsed();
        let rss_kib = vm_rss_kib() - before;
        release.send(true).expect("the DEALER tasks are gone");
        let ends = async {
            for dealer in dealers {
                dealer.await.expect("a DEALER task panicked");
            }
            drop(echo.await.expect("the ROUTER task panicked"));
            ctx.terminate().await.expect("terminate the context");
        };
        tokio::time::timeout(LIMIT, ends)
            .await
            .expect("the DEALERs took longer than the limit to close");
        Sample { time, rss_kib }
    })
}
