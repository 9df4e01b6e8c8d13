//! The zguide's `rrbroker`: REQ clients reach REP workers through a ROUTER
//! frontend and a DEALER backend joined by `zmq_tokio::proxy`, with a
//! capture callback that shows every message the proxy forwards (the
//! "extended request-reply" pattern).
//!
//! Run it with:
//!
//! ```text
//! cargo run --example rrbroker
//! ```
//!
//! The broker binds its frontend to a free port on 127.0.0.1 and its
//! backend to an inproc endpoint. Two workers and two clients run as tasks;
//! each client sends a few requests and prints the replies. A capture
//! callback logs every message the proxy forwards, with its direction and
//! frames (the routing id and empty delimiter the ROUTER adds included).
//! The proxy runs until the clients are done or Ctrl-C is pressed,
//! whichever comes first, then prints its statistics and hands its sockets
//! back.

use std::fmt::Write as _;

use zmq_tokio::{proxy, Context, Direction, Multipart, Socket, SocketType};

const WORKERS: usize = 2;
const CLIENTS: usize = 2;
const REQUESTS: usize = 3;

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let ctx = Context::new();

    let frontend = Socket::builder(SocketType::Router).context(&ctx).build()?;
    let frontend_endpoint = frontend.bind("tcp://127.0.0.1:*")?;
    let backend = Socket::builder(SocketType::Dealer)
        .context(&ctx)
        .bind("inproc://broker-workers")
        .build()?;
    println!("broker: clients connect to {frontend_endpoint}, workers to inproc://broker-workers");

    let broker = proxy(frontend, backend).capture(|direction, msg| {
        let arrow = match direction {
            Direction::FrontendToBackend => "client -> worker",
            Direction::BackendToFrontend => "worker -> client",
        };
        println!("  [capture] {arrow}: {}", frames(msg));
    });
    let control = broker.control();

    let mut workers = Vec::new();
    for w in 1..=WORKERS {
        let worker = Socket::builder(SocketType::Rep)
            .context(&ctx)
            .connect("inproc://broker-workers")
            .build()?;
        workers.push(tokio::spawn(async move {
            let mut served = 0;
            // The loop ends when the context is shut down at the end.
            while let Ok(request) = worker.recv_string().await {
                let reply = format!("{} (by worker-{w})", request.to_uppercase());
                if worker.send(reply).await.is_err() {
                    break;
                }
                served += 1;
            }
            (w, served)
        }));
    }

    let mut clients = Vec::new();
    for c in 1..=CLIENTS {
        let client = Socket::builder(SocketType::Req)
            .context(&ctx)
            .routing_id(format!("client-{c}"))
            .connect(&frontend_endpoint)
            .build()?;
        clients.push(tokio::spawn(async move {
            for i in 1..=REQUESTS {
                let request = format!("hello {i} from client-{c}");
                client.send(request.as_str()).await?;
                let reply = client.recv_string().await?;
                println!("client-{c}: sent {request:?}, got {reply:?}");
            }
            Ok::<_, zmq_tokio::Error>(())
        }));
    }

    // The proxy runs until the demo is over or the user presses Ctrl-C.
    let demo_finished = async move {
        for client in clients {
            match client.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("a client failed: {e}"),
                Err(e) => eprintln!("a client task failed: {e}"),
            }
        }
        println!("broker: every client is done");
    };
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => println!("broker: Ctrl-C"),
            // No signal handling here: let the demo decide.
            Err(_) => std::future::pending().await,
        }
    };
    let cancel = async {
        tokio::select! {
            () = demo_finished => {}
            () = ctrl_c => {}
        }
    };
    let outcome = broker.run_until(cancel).await?;

    let stats = outcome.stats;
    println!(
        "broker stats: forwarded {} requests ({} bytes) to workers, {} replies ({} bytes) to clients",
        stats.frontend_to_backend.messages,
        stats.frontend_to_backend.bytes,
        stats.backend_to_frontend.messages,
        stats.backend_to_frontend.bytes,
    );
    println!("broker: control reads the same: {:?}", control.stats());
    if !outcome.unsent.is_empty() {
        println!("broker: {} messages were left unsent", outcome.unsent.len());
    }

    // The sockets came back; closing the context stops the workers too.
    drop(outcome);
    ctx.terminate().await?;
    for worker in workers {
        if let Ok((w, served)) = worker.await {
            println!("worker-{w} served {served} requests");
        }
    }
    Ok(())
}

/// A message's frames, as text where they are text and as hex where not.
fn frames(msg: &Multipart) -> String {
    let mut out = String::new();
    for (i, frame) in msg.iter().enumerate() {
        if i > 0 {
            out.push_str(" | ");
        }
        match frame.as_str() {
            Some(text) if !text.chars().any(char::is_control) => {
                let _ = write!(out, "{text:?}");
            }
            _ => {
                out.push_str("0x");
                for byte in frame.iter() {
                    let _ = write!(out, "{byte:02x}");
                }
            }
        }
    }
    out
}
