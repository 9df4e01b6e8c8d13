//! The zguide's `espresso`: an XSUB/XPUB proxy with a capture socket that a
//! listener task reads, to see everything that passes through.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example espresso
//! ```
//!
//! A publisher on 127.0.0.1 sends random topics (`"A"` to `"J"`); the proxy
//! binds an XSUB to meet it and an XPUB for subscribers; a subscriber asks
//! for topics `"A"` and `"B"`. The proxy copies every message it forwards,
//! in both directions, to its capture socket, a PAIR whose other end the
//! listener task reads: the subscriptions going upstream (`\x01A`,
//! `\x01B`) and the updates going downstream. After the subscriber has
//! five messages the proxy stops and prints its counts.

use std::time::Duration;

use zmq_tokio::{proxy, Context, SocketType};

const WANTED: usize = 5;

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let ctx = Context::new();

    let publisher = ctx.socket(SocketType::Pub)?;
    let pub_endpoint = publisher.bind("tcp://127.0.0.1:*")?;
    tokio::spawn(async move {
        let mut n = 0u32;
        loop {
            let topic = char::from(b'A' + (n * 7 % 10) as u8).to_string();
            if publisher
                .send([topic, format!("update {n}")])
                .await
                .is_err()
            {
                break; // the context was terminated
            }
            n += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });

    let xsub = ctx.socket(SocketType::XSub)?;
    xsub.connect(&pub_endpoint)?;
    let xpub = ctx.socket(SocketType::XPub)?;
    let xpub_endpoint = xpub.bind("tcp://127.0.0.1:*")?;

    let capture = ctx.socket(SocketType::Pair)?;
    capture.bind("inproc://espresso-capture")?;
    let listener = ctx.socket(SocketType::Pair)?;
    listener.connect("inproc://espresso-capture")?;
    tokio::spawn(async move {
        while let Ok(msg) = listener.recv().await {
            let frames: Vec<String> = msg
                .iter()
                .map(|frame| format!("{:?}", frame.to_string()))
                .collect();
            println!("listener: {}", frames.join(" "));
        }
    });

    let proxy = proxy(xsub, xpub).capture_socket(capture);
    let control = proxy.control();
    let running = tokio::spawn(proxy.run());

    let subscriber = ctx.socket(SocketType::Sub)?;
    subscriber.connect(&xpub_endpoint)?;
    subscriber.subscribe("A")?;
    subscriber.subscribe("B")?;
    for _ in 0..WANTED {
        let msg = subscriber.recv().await?;
        println!("subscriber: {} {}", msg[0], msg[1]);
    }

    control.terminate();
    let outcome = running.await.expect("the proxy task panicked")?;
    println!(
        "espresso: {} updates down, {} subscriptions up, {} capture copies dropped",
        outcome.stats.frontend_to_backend.messages,
        outcome.stats.backend_to_frontend.messages,
        outcome.stats.capture_dropped,
    );
    drop(outcome);
    ctx.terminate().await?;
    Ok(())
}
