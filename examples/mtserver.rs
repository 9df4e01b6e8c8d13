//! The zguide's multithreaded server (`mtserver`): REP workers as tasks
//! behind a ROUTER/DEALER proxy, reached over `inproc://`.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example mtserver
//! ```
//!
//! Clients connect to a ROUTER on a free port of 127.0.0.1; the proxy
//! deals their requests over a DEALER to five REP worker tasks connected
//! to `inproc://workers` (inproc needs the sockets to share a context).
//! A REQ client sends ten requests; the proxy stops when it is done, and
//! terminating the context ends the workers.

use std::time::Duration;

use zmq_tokio::{proxy, Context, SocketType};

const WORKERS: usize = 5;
const REQUESTS: usize = 10;

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let ctx = Context::new();
    let clients = ctx.socket(SocketType::Router)?;
    let endpoint = clients.bind("tcp://127.0.0.1:*")?;
    let workers = ctx.socket(SocketType::Dealer)?;
    workers.bind("inproc://workers")?;

    for id in 0..WORKERS {
        let worker = ctx.socket(SocketType::Rep)?;
        worker.connect("inproc://workers")?;
        tokio::spawn(async move {
            // Ends when the context is terminated.
            while let Ok(request) = worker.recv_string().await {
                println!("worker {id}: received {request:?}");
                // Some "work".
                tokio::time::sleep(Duration::from_millis(10)).await;
                if worker.send("World").await.is_err() {
                    break;
                }
            }
        });
    }

    let client = ctx.socket(SocketType::Req)?;
    client.connect(&endpoint)?;
    let requests = async {
        for n in 0..REQUESTS {
            client.send("Hello").await?;
            let reply = client.recv_string().await?;
            println!("client: reply {n}: {reply:?}");
        }
        Ok::<_, zmq_tokio::Error>(())
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let running = tokio::spawn(proxy(clients, workers).run_until(async {
        let _ = done_rx.await;
    }));
    requests.await?;
    let _ = done_tx.send(());
    let outcome = running.await.expect("the proxy task panicked")?;
    println!(
        "mtserver: {} requests served by {WORKERS} workers",
        outcome.stats.backend_to_frontend.messages
    );
    drop(outcome);
    ctx.terminate().await?;
    Ok(())
}
