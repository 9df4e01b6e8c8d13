//! A bound socket that no task awaits: libzmq processes a socket's
//! commands (connections made and lost, pipes to tear down) only inside
//! calls on that socket, so what departed peers leave behind would stay
//! until its next call. The context's sweeper makes that call for sockets
//! nobody waits on (`Context`'s docs, "Idle sockets"). This test measures
//! the memory a bound ROUTER keeps for 4,000 peers that connect and leave
//! while no task calls it. The peers live in a child process (this test
//! binary, run again), so that the parent's memory is the ROUTER's alone.

mod child;
mod support;

use std::io::{BufRead, Write};
use std::process::Stdio;
use std::time::Duration;

use support::bounded;
use zmq_tokio::{options, Context, Event, EventMask, Monitor, SocketType};

const TEST: &str = "an_idle_router_does_not_keep_departed_peers";

/// Peers that connect and leave, in batches of `BATCH`.
const BATCHES: usize = 20;
const BATCH: usize = 200;

/// Longer than the sweeper's interval (200 ms): the wait after each batch.
const SWEEP_WAIT: Duration = Duration::from_millis(300);

/// Growth allowed over the last half of the batches (2,000 peers).
/// Measured over 1,000 peers: without the sweeper (turned off by hand) the
/// ROUTER grew by 4.8 to 9.9 MB, with it by -2.1 to +2.7 MB.
const ALLOWED_KIB: u64 = 8192;

/// The process's resident set size in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Waits until the monitor has reported `n` events of `kind`.
async fn count(monitor: &mut Monitor, kind: Event, n: usize) {
    let mut seen = 0;
    while seen < n {
        let event = monitor
            .next_event()
            .await
            .expect("monitoring goes on")
            .expect("a well-formed event");
        if event.event == kind {
            seen += 1;
        }
    }
}

/// The child: for each line `open` on stdin, connects `BATCH` DEALERs to
/// the endpoint in `IDLE_ENDPOINT`; for each line `close`, closes them.
fn peers() {
    let endpoint = std::env::var("IDLE_ENDPOINT").expect("IDLE_ENDPOINT");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let ctx = Context::new();
    let mut dealers = Vec::new();
    for line in std::io::stdin().lock().lines() {
        match line.expect("a line from the parent").as_str() {
            "open" => {
                for _ in 0..BATCH {
                    let dealer = ctx.socket(SocketType::Dealer).unwrap();
                    dealer.set(options::LINGER, 0).unwrap();
                    dealer.connect(&endpoint).unwrap();
                    dealers.push(dealer);
                }
            }
            "close" => dealers.clear(),
            other => panic!("unknown line {other:?}"),
        }
    }
}

#[test]
fn an_idle_router_does_not_keep_departed_peers() {
    if child::scenario().is_some() {
        return peers();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bounded("the test", Duration::from_secs(120), async {
        let ctx = Context::new();
        let router = ctx.socket(SocketType::Router).unwrap();
        router.set(options::BACKLOG, 1000).unwrap();
        let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
        let mut monitor = router
            .monitor(EventMask::ACCEPTED | EventMask::DISCONNECTED)
            .unwrap();
        let mut peers = child::command(TEST, "peers")
            .env("IDLE_ENDPOINT", &endpoint)
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn the peers");
        let mut to_peers = peers.stdin.take().expect("the peers' stdin");
        let mut rss = Vec::new();
        for _ in 0..BATCHES {
            writeln!(to_peers, "open").unwrap();
            count(&mut monitor, Event::Accepted, BATCH).await;
            writeln!(to_peers, "close").unwrap();
            count(&mut monitor, Event::Disconnected, BATCH).await;
            tokio::time::sleep(SWEEP_WAIT).await;
            rss.push(rss_kib());
        }
        drop(to_peers);
        let status = peers.wait().expect("the peers' exit");
        assert!(status.success(), "the peers: {status}");
        println!("RSS after each batch of {BATCH} peers (KiB): {rss:?}");
        let half = rss[BATCHES / 2 - 1];
        let last = rss[BATCHES - 1];
        assert!(
            last.saturating_sub(half) < ALLOWED_KIB,
            "the idle ROUTER grew by {} KiB over the last {} peers: {rss:?}",
            last - half,
            BATCH * BATCHES / 2
        );
    }));
}
