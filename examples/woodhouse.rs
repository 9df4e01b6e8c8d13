//! Woodhouse, after the ZeroMQ guide's security chapter: PLAIN user names
//! and passwords, checked by a ZAP authenticator.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example woodhouse
//! ```
//!
//! The authenticator knows the user `admin` with the password `secret`.
//! A client with a wrong password is refused (ZAP status 400 on the
//! server's monitor); `admin` gets the server's message, which carries
//! `User-Id: admin`. On success it prints `Woodhouse test OK`.
//!
//! PLAIN sends passwords in clear text: use it on trusted networks only,
//! or use CURVE (`examples/ironhouse.rs`). It works with the libzmq that
//! `zmq-sys` builds: no libsodium needed.

use std::time::Duration;

use futures::StreamExt;
use zmq_tokio::zap::Authenticator;
use zmq_tokio::{options, Context, EventMask, Socket, SocketType};

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    tokio::time::timeout(Duration::from_secs(10), run())
        .await
        .expect("woodhouse did not finish within 10 s")
}

async fn run() -> zmq_tokio::Result<()> {
    let ctx = Context::new();
    let auth = Authenticator::builder(&ctx)
        .plain_users("*", [("admin", "secret")])
        .start()?;

    let server = Socket::builder(SocketType::Push)
        .context(&ctx)
        .plain_server()
        .bind("tcp://127.0.0.1:*")
        .build()?;
    let endpoint = server.endpoints().bound[0].clone();
    let mut monitor = server.monitor(EventMask::HANDSHAKE_FAILED_AUTH)?;

    let intruder = Socket::builder(SocketType::Pull)
        .context(&ctx)
        .set(options::LINGER, 0)
        .plain_client("admin", "guess")
        .connect(&endpoint)
        .build()?;
    if let Some(Ok(event)) = monitor.next().await {
        let failure = event.handshake_failure().expect("a handshake failure");
        println!("wrong password: {failure}");
    }
    intruder.close();

    let client = Socket::builder(SocketType::Pull)
        .context(&ctx)
        .plain_client("admin", "secret")
        .connect(&endpoint)
        .build()?;
    server.send("Hello").await?;
    let msg = client.recv().await?;
    assert_eq!(msg[0].as_str(), Some("Hello"));
    auth.stop().await;
    println!("Woodhouse test OK");
    Ok(())
}
