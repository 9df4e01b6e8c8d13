//! Strawhouse, after the ZeroMQ guide's security chapter: a server that
//! accepts clients by their IP address, checked by a ZAP authenticator.
//! No encryption, no passwords: an address allow list only.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example strawhouse
//! ```
//!
//! The authenticator allows `127.0.0.1` only. A client that connects from
//! `127.0.0.2` (another loopback address) is refused, which the server's
//! monitor reports as ZAP status 400; a client from `127.0.0.1` gets the
//! server's message. On success it prints `Strawhouse test OK`.
//!
//! libzmq asks the ZAP handler about NULL (unsecured) clients only when
//! the server socket has a ZAP domain, hence `zap_domain("global")`.

use std::time::Duration;

use futures::StreamExt;
use zmq_tokio::zap::Authenticator;
use zmq_tokio::{options, Context, EventMask, HandshakeFailure, Socket, SocketType};

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    tokio::time::timeout(Duration::from_secs(10), run())
        .await
        .expect("strawhouse did not finish within 10 s")
}

async fn run() -> zmq_tokio::Result<()> {
    let ctx = Context::new();
    let auth = Authenticator::builder(&ctx).allow("127.0.0.1").start()?;

    let server = Socket::builder(SocketType::Push)
        .context(&ctx)
        .zap_domain("global")
        .bind("tcp://127.0.0.1:*")
        .build()?;
    let endpoint = server.endpoints().bound[0].clone();
    let mut monitor = server.monitor(EventMask::HANDSHAKE_FAILED_AUTH)?;
    let port = endpoint.rsplit(':').next().unwrap_or_default();

    // From 127.0.0.2: refused.
    let stranger = Socket::builder(SocketType::Pull)
        .context(&ctx)
        .set(options::LINGER, 0)
        .connect(format!("tcp://127.0.0.2:0;127.0.0.1:{port}"))
        .build()?;
    if let Some(Ok(event)) = monitor.next().await {
        let failure = event.handshake_failure();
        assert_eq!(failure, Some(HandshakeFailure::Auth { status: 400 }));
        println!("client from 127.0.0.2: {}", failure.expect("a failure"));
    }
    stranger.close();

    // From 127.0.0.1: let in.
    let client = Socket::builder(SocketType::Pull)
        .context(&ctx)
        .connect(&endpoint)
        .build()?;
    server.send("Hello").await?;
    assert_eq!(client.recv_string().await?, "Hello");
    auth.stop().await;
    println!("Strawhouse test OK");
    Ok(())
}
