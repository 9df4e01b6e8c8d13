//! The zguide's `interrupt`: a server that stops cleanly on Ctrl-C.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example interrupt              # press Ctrl-C, or wait 2 s
//! cargo run --example interrupt -- 10        # wait up to 10 s instead
//! ```
//!
//! A REP server serves a client task on 127.0.0.1 until Ctrl-C
//! (`tokio::signal::ctrl_c`) or, so that the example ends by itself, until
//! the time limit runs out. Then it shuts down gracefully:
//! `Context::terminate` fails every pending operation of the context's
//! sockets with `Error::ContextTerminated` (the server and client loops
//! see that and end), closes them, and returns once libzmq has released
//! the context. Nothing blocks a runtime thread on the way.

use std::time::Duration;

use zmq_tokio::{Context, Error, SocketType};

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let limit: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let ctx = Context::new();
    let server = ctx.socket(SocketType::Rep)?;
    let endpoint = server.bind("tcp://127.0.0.1:*")?;
    let client = ctx.socket(SocketType::Req)?;
    client.connect(&endpoint)?;

    let serving = tokio::spawn(async move {
        let mut served = 0u64;
        loop {
            match server.recv().await {
                Ok(request) => server.send(request).await?,
                Err(Error::ContextTerminated) => {
                    println!("server: context terminated after {served} requests");
                    return Ok::<_, Error>(());
                }
                Err(e) => return Err(e),
            }
            served += 1;
        }
    });
    let asking = tokio::spawn(async move {
        loop {
            let result = async {
                client.send("ping").await?;
                client.recv().await
            };
            match result.await {
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(Error::ContextTerminated) => return,
                Err(e) => panic!("client: {e}"),
            }
        }
    });

    println!("serving on {endpoint}: press Ctrl-C to stop (or wait {limit} s)");
    tokio::select! {
        signal = tokio::signal::ctrl_c() => match signal {
            Ok(()) => println!("interrupt received, shutting down"),
            Err(e) => println!("cannot listen for Ctrl-C ({e}), shutting down"),
        },
        () = tokio::time::sleep(Duration::from_secs(limit)) => {
            println!("no interrupt after {limit} s, shutting down");
        }
    }
    ctx.terminate().await?;
    serving.await.expect("the server task panicked")?;
    asking.await.expect("the client task panicked");
    println!("context terminated, bye");
    Ok(())
}
