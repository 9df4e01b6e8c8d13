//! Ironhouse, after the ZeroMQ guide's security chapter: CURVE encryption,
//! and a ZAP authenticator that lets in only the clients whose public key
//! files are in a directory.
//!
//! Run it with a libzmq that has CURVE (the README's "Security" section):
//!
//! ```text
//! apt-get install libzmq3-dev
//! cargo run --example ironhouse \
//!     --config 'target.x86_64-unknown-linux-gnu.zmq.rustc-link-lib=["zmq"]'
//! ```
//!
//! It makes a server and a client key pair, writes the client's public key
//! to `client.key` in a fresh temporary directory (the zcert text format
//! that czmq and pyzmq write), points the authenticator at the directory,
//! and sends one message over CURVE; the server sees the client's key as
//! its `User-Id`. On success it prints `Ironhouse test OK`.
//!
//! With the libzmq that `zmq-sys` builds (no CURVE) it prints
//! `Ironhouse skipped: ...` with how to get CURVE, and exits with 0.

use std::time::Duration;

use zmq_tokio::zap::Authenticator;
use zmq_tokio::{curve_keypair, Context, Socket, SocketType};

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    if !zmq_tokio::has("curve") {
        let err = curve_keypair().expect_err("no CURVE");
        println!("Ironhouse skipped: {err}");
        return Ok(());
    }
    tokio::time::timeout(Duration::from_secs(10), run())
        .await
        .expect("ironhouse did not finish within 10 s")
}

async fn run() -> zmq_tokio::Result<()> {
    let server_keys = curve_keypair()?;
    let client_keys = curve_keypair()?;

    // The directory of allowed client keys.
    let dir = std::env::temp_dir().join(format!("ironhouse-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("client.key"),
        format!(
            "#   ZeroMQ CURVE Public Certificate\n\ncurve\n    public-key = \"{}\"\n",
            client_keys.public()
        ),
    )?;

    let ctx = Context::new();
    let started = Authenticator::builder(&ctx)
        .curve_key_dir("*", &dir)
        .start();
    std::fs::remove_dir_all(&dir)?;
    let auth = started?;

    let server = Socket::builder(SocketType::Pull)
        .context(&ctx)
        .curve_server(&server_keys)
        .bind("tcp://127.0.0.1:*")
        .build()?;
    let client = Socket::builder(SocketType::Push)
        .context(&ctx)
        .curve_client(server_keys.public(), &client_keys)
        .connect(&server.endpoints().bound[0])
        .build()?;
    client.send("Hello").await?;
    let msg = server.recv().await?;
    assert_eq!(msg[0].as_str(), Some("Hello"));
    assert_eq!(
        msg[0].gets("User-Id").as_deref(),
        Some(client_keys.public())
    );
    println!("server got {:?} from {}", "Hello", client_keys.public());
    auth.stop().await;
    println!("Ironhouse test OK");
    Ok(())
}
