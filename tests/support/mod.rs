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
