//! The zguide's load-balancing broker (`lbbroker`): a ROUTER for clients,
//! a ROUTER for workers, and a queue of the workers that are ready.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example lbbroker
//! ```
//!
//! Workers are REQ sockets that announce themselves with `READY` and then
//! send each reply as their next request; clients are REQ sockets that send
//! one request each. The broker reads client requests only while a worker
//! is free: in `tokio::select!` that is a branch with a condition,
//! `msg = frontend.recv(), if !ready.is_empty()`, the async form of the
//! zguide's poll over one or two sockets. Everything runs on 127.0.0.1
//! and inproc, and the broker stops once every client has its reply.

use std::collections::VecDeque;

use zmq_tokio::{Context, Message, SocketType};

const CLIENTS: usize = 10;
const WORKERS: usize = 3;

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let ctx = Context::new();
    let frontend = ctx.socket(SocketType::Router)?;
    let frontend_endpoint = frontend.bind("tcp://127.0.0.1:*")?;
    let backend = ctx.socket(SocketType::Router)?;
    backend.bind("inproc://lbbroker-workers")?;

    for id in 0..WORKERS {
        let worker = ctx.socket(SocketType::Req)?;
        worker.connect("inproc://lbbroker-workers")?;
        tokio::spawn(async move {
            worker.send("READY").await?;
            // [client id, "", request]: the REQ took off the envelope's
            // first part, the broker's routing id for this worker. The loop
            // ends when the context is terminated.
            while let Ok(mut request) = worker.recv().await {
                let body = request.pop_back().expect("a request body");
                println!("worker {id}: {body} from {}", request[0]);
                request.push_back("OK");
                worker.send(request).await?;
            }
            Ok::<_, zmq_tokio::Error>(())
        });
    }

    let mut clients = Vec::new();
    for id in 0..CLIENTS {
        let client = ctx.socket(SocketType::Req)?;
        client.connect(&frontend_endpoint)?;
        clients.push(tokio::spawn(async move {
            client.send("HELLO").await?;
            let reply = client.recv_string().await?;
            Ok::<_, zmq_tokio::Error>((id, reply))
        }));
    }

    // Workers that are ready, by routing id, oldest first.
    let mut ready: VecDeque<Message> = VecDeque::new();
    let mut answered = 0;
    while answered < CLIENTS {
        tokio::select! {
            msg = backend.recv() => {
                // [worker id, "", "READY"] or [worker id, "", client id, "", reply]
                let mut msg = msg?;
                let worker = msg.pop_front().expect("a routing id");
                ready.push_back(worker);
                msg.pop_front(); // the delimiter
                if msg.len() == 3 {
                    frontend.send(msg).await?;
                    answered += 1;
                }
            }
            msg = frontend.recv(), if !ready.is_empty() => {
                // [client id, "", request], sent on to the oldest ready worker.
                let msg = msg?;
                let worker = ready.pop_front().expect("a worker is ready");
                backend.send((worker, ("", msg))).await?;
            }
        }
    }

    for client in clients {
        let (id, reply) = client.await.expect("a client task panicked")?;
        println!("client {id}: {reply}");
    }
    println!("lbbroker: {answered} requests answered by {WORKERS} workers");
    ctx.terminate().await?;
    Ok(())
}
