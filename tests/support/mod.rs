//! Helpers the integration tests share (`mod support;` in each file).
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The usual bound on a whole test body.
pub const TEST_LIMIT: Duration = Duration::from_secs(10);

/// Awaits `fut`, failing the test, named by `what`, if it takes longer
/// than `limit`: a hang fails fast instead of stalling the run.
pub async fn bounded<T>(what: &str, limit: Duration, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: not done within {limit:?} (a hang?)"),
    }
}

/// An `inproc://` endpoint no other test of this process uses.
pub fn unique_inproc(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "inproc://test-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The transports the stress tests run over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Inproc,
    Tcp,
}

/// An endpoint to bind on: a wildcard tcp port on 127.0.0.1, or an inproc
/// name no other test of this process uses.
pub fn fresh_endpoint(transport: Transport, tag: &str) -> String {
    match transport {
        Transport::Tcp => "tcp://127.0.0.1:*".to_owned(),
        Transport::Inproc => unique_inproc(tag),
    }
}

/// The current runtime's flavour, for failure messages.
pub fn flavour() -> &'static str {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => "current_thread",
        _ => "multi_thread",
    }
}

/// Waits until `progress()` reaches `total`, failing the test, named by
/// `what`, when it does not move for `stall` (a lost wakeup) or the whole
/// wait takes longer than `bound`. It only reads the counter: it never
/// touches a socket, so it cannot wake a waiter the code forgot.
pub async fn watch_progress(
    what: &str,
    total: u64,
    stall: std::time::Duration,
    bound: std::time::Duration,
    progress: impl Fn() -> u64,
) {
    use std::time::Instant;
    let start = Instant::now();
    let mut last = progress();
    let mut since = Instant::now();
    loop {
        let now = progress();
        if now >= total {
            eprintln!("{what} ({}): {total} in {:?}", flavour(), start.elapsed());
            return;
        }
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() > stall {
            panic!(
                "{what} ({}): stalled at {now} of {total} for {stall:?} (a lost wakeup)",
                flavour()
            );
        }
        assert!(
            start.elapsed() < bound,
            "{what} ({}): at {now} of {total} after {bound:?}",
            flavour()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs an async test body on both runtime flavours: a module named for
/// the case with a test per flavour (`#[macro_use] mod support;`).
#[allow(unused_macros)]
macro_rules! on_both_runtimes {
    ($($name:ident => $body:expr;)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "current_thread")]
            async fn current_thread() {
                $body.await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn multi_thread() {
                $body.await;
            }
        }
    )*};
}
