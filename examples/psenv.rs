//! The zguide's pub-sub envelope (`psenvpub` and `psenvsub`): the topic in
//! a frame of its own, the body in the next.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example psenv
//! ```
//!
//! The publisher sends two-frame messages, `["A", ...]` and `["B", ...]`,
//! over a free port on 127.0.0.1. The subscriber subscribes to `"B"`: a
//! subscription matches the start of the *first* frame, so it receives
//! the B messages, whole, and never the A ones. It prints five of them and
//! stops the publisher.

use std::time::Duration;

use tokio::sync::oneshot;
use zmq_tokio::{Socket, SocketType};

const MESSAGES: usize = 5;

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let publisher = Socket::new(SocketType::Pub)?;
    let endpoint = publisher.bind("tcp://127.0.0.1:*")?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    let psenvpub = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tokio::select! {
                _ = &mut stopped => return Ok::<_, zmq_tokio::Error>(()),
                _ = tick.tick() => {
                    publisher.send(["A", "We don't want to see this"]).await?;
                    publisher.send(["B", "We would like to see this"]).await?;
                }
            }
        }
    });

    let subscriber = Socket::new(SocketType::Sub)?;
    subscriber.connect(&endpoint)?;
    subscriber.subscribe("B")?;
    for _ in 0..MESSAGES {
        let msg = subscriber.recv().await?;
        // Display shows a frame as text.
        println!("[{}] {}", msg[0], msg[1]);
        assert_eq!(msg[0], "B");
    }
    let _ = stop.send(());
    psenvpub.await.expect("the publisher task panicked")?;
    println!("psenvsub: {MESSAGES} messages on topic B, none on A");
    Ok(())
}
