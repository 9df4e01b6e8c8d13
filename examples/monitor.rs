//! Socket monitoring: the connection events libzmq reports for a socket.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example monitor
//! ```
//!
//! A REP server binds a free port on 127.0.0.1 and prints its socket's
//! events (listening, accepted, handshake, disconnected, ...) as they come.
//! A REQ client connects, makes one request, and disconnects; then the
//! server closes, which ends its monitor. The example prints every event the
//! monitor saw, and stops by itself within a few seconds.

use std::time::Duration;

use futures::StreamExt;
use zmq_tokio::{Event, EventMask, Socket, SocketType};

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let server = Socket::new(SocketType::Rep)?;
    let mut monitor = server.monitor(EventMask::ALL)?;
    let endpoint = server.bind("tcp://127.0.0.1:*")?;
    println!("server bound to {endpoint}");

    // Print events as they arrive; tell the main task when the client's
    // connection is gone; hand back everything seen once the monitor ends.
    let (gone_tx, gone) = tokio::sync::oneshot::channel();
    let printer = tokio::spawn(async move {
        let mut gone_tx = Some(gone_tx);
        let mut seen = Vec::new();
        while let Some(event) = monitor.next().await {
            let event = event?;
            println!(
                "  event: {:?} (value {}) on {:?}",
                event.event, event.value, event.endpoint
            );
            if event.event == Event::Disconnected {
                if let Some(tx) = gone_tx.take() {
                    let _ = tx.send(());
                }
            }
            seen.push(event.event);
        }
        Ok::<_, zmq_tokio::Error>(seen)
    });

    let client = Socket::new(SocketType::Req)?;
    client.connect(&endpoint)?;
    client.send("Hello").await?;
    let request = server.recv_string().await?;
    println!("server received: {request:?}");
    server.send("World").await?;
    println!("client received: {:?}", client.recv_string().await?);

    // The client disconnects; wait (at most a few seconds) for the server's
    // monitor to see it, then close the server, which ends the monitor.
    client.close();
    if tokio::time::timeout(Duration::from_secs(3), gone)
        .await
        .is_err()
    {
        println!("(no DISCONNECTED event within 3 s)");
    }
    server.close();

    let seen = tokio::time::timeout(Duration::from_secs(3), printer)
        .await
        .expect("the monitor ends once its socket is closed")
        .expect("the printer task panicked")?;
    println!("the monitor saw {} events: {seen:?}", seen.len());
    Ok(())
}
