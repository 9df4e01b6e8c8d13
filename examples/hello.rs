//! Hello World over loopback TCP: a REP server task and a REQ client, the
//! first example of the ZeroMQ guide.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example hello
//! ```
//!
//! The server binds a free port on 127.0.0.1 (`tcp://127.0.0.1:*`), the
//! client connects to the port it got, and they exchange three
//! request/reply pairs, printing each.

use zmq_tokio::{Socket, SocketType};

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let responder = Socket::new(SocketType::Rep)?;
    let endpoint = responder.bind("tcp://127.0.0.1:*")?;
    println!("server bound to {endpoint}");

    let server = tokio::spawn(async move {
        let mut served = 0;
        for _ in 0..3 {
            let request = responder.recv_string().await?;
            println!("server received: {request:?}");
            responder.send("World").await?;
            served += 1;
        }
        Ok::<_, zmq_tokio::Error>(served)
    });

    let requester = Socket::new(SocketType::Req)?;
    requester.connect(&endpoint)?;
    for n in 0..3 {
        requester.send("Hello").await?;
        let reply = requester.recv_string().await?;
        println!("client received: {reply:?} (#{n})");
    }

    let served = server.await.expect("the server task panicked")?;
    println!("server answered {served} requests");
    Ok(())
}
