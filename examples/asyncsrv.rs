//! The zguide's asynchronous client/server (`asyncsrv`): DEALER clients
//! talk to one ROUTER that many server tasks share.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example asyncsrv
//! ```
//!
//! The zguide's C version needs a ROUTER frontend, a DEALER backend, a
//! proxy and a worker thread per worker. Here the workers are tasks that
//! share the ROUTER itself through an `Arc<Socket>`: each awaits
//! `recv`, and each whole message (routing id and body) goes to exactly
//! one of them; each sends its replies on the same socket. Three DEALER
//! clients send requests without waiting for replies, and count the
//! replies as they come.
//!
//! A ROUTER drops a reply for a peer that is at its high-water mark (or
//! gone), silently; here the counts are small, so every reply arrives.

use std::sync::Arc;

use zmq_tokio::{Context, Socket, SocketType};

const CLIENTS: usize = 3;
const SERVER_TASKS: usize = 5;
const REQUESTS: usize = 5;

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let ctx = Context::new();
    let server = Arc::new(ctx.socket(SocketType::Router)?);
    let endpoint = server.bind("tcp://127.0.0.1:*")?;
    println!("server on {endpoint} with {SERVER_TASKS} tasks");

    for task in 0..SERVER_TASKS {
        let server = Arc::clone(&server);
        tokio::spawn(async move {
            // [client id, request]; ends when the context is terminated.
            while let Ok(mut msg) = server.recv().await {
                let client = msg.pop_front().expect("a routing id");
                let request = msg.pop_front().expect("a request");
                let reply = format!("{request} (server task {task})");
                if server.send((client, reply)).await.is_err() {
                    break;
                }
            }
        });
    }

    let mut clients = Vec::new();
    for id in 0..CLIENTS {
        let client = Socket::builder(SocketType::Dealer)
            .context(&ctx)
            .routing_id(format!("client-{id}"))
            .connect(&endpoint)
            .build()?;
        clients.push(tokio::spawn(async move {
            for n in 0..REQUESTS {
                client
                    .send(format!("request #{n} from client-{id}"))
                    .await?;
            }
            for _ in 0..REQUESTS {
                let reply = client.recv_string().await?;
                println!("client-{id} got: {reply}");
            }
            Ok::<_, zmq_tokio::Error>(id)
        }));
    }
    for client in clients {
        let id = client.await.expect("a client task panicked")?;
        println!("client-{id} got all {REQUESTS} replies");
    }
    println!("asyncsrv: {CLIENTS} clients answered");
    ctx.terminate().await?;
    Ok(())
}
