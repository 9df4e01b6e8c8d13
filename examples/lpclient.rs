//! The zguide's Lazy Pirate (`lpclient` and `lpserver`): reliable
//! request-reply from the client side, with a timeout, a fresh socket and
//! a retry.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example lpclient
//! ```
//!
//! A REQ socket that sent a request and got no reply is stuck: it may not
//! send again. So the client waits for each reply with a timeout
//! (`tokio::time::timeout` around `recv`), and on a timeout it closes the
//! socket, opens a new one, and sends the request again, up to three
//! times, before it gives up.
//!
//! The server, a REP task on 127.0.0.1, "crashes" at the third request: it
//! closes its socket without replying, stays away for 700 ms, and binds
//! the same port again. Binding right after a close can fail with
//! `EADDRINUSE` for a few milliseconds (libzmq closes the listener on its
//! reaper thread), so the server retries the bind. The client sees one
//! timeout, retries, and gets all its replies.

use std::time::Duration;

use zmq_tokio::{errno, options, Socket, SocketType};

const REQUESTS: u32 = 6;
const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
const REQUEST_RETRIES: u32 = 3;
const CRASH_AT: u32 = 3;

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let first = Socket::new(SocketType::Rep)?;
    let endpoint = first.bind("tcp://127.0.0.1:*")?;
    let server = tokio::spawn(lpserver(first, endpoint.clone()));

    let mut client = connect(&endpoint)?;
    let mut sequence = 0;
    while sequence < REQUESTS {
        sequence += 1;
        let request = sequence.to_string();
        client.send(request.as_str()).await?;
        let mut retries_left = REQUEST_RETRIES;
        loop {
            match tokio::time::timeout(REQUEST_TIMEOUT, client.recv_string()).await {
                Ok(reply) => {
                    let reply = reply?;
                    assert_eq!(reply, request, "the server echoes the sequence number");
                    println!("I: server replied OK ({reply})");
                    break;
                }
                Err(_elapsed) => {
                    retries_left -= 1;
                    if retries_left == 0 {
                        println!("E: server seems to be offline, abandoning");
                        std::process::exit(1);
                    }
                    println!("W: no response from server, retrying...");
                    // The old socket is stuck in its send-then-recv turn:
                    // drop it (LINGER 0 throws away the request it still
                    // holds) and send the request on a new one.
                    client.close();
                    client = connect(&endpoint)?;
                    client.send(request.as_str()).await?;
                }
            }
        }
    }
    println!("I: all {REQUESTS} requests answered");
    server.abort();
    Ok(())
}

fn connect(endpoint: &str) -> zmq_tokio::Result<Socket> {
    println!("I: connecting to server...");
    let client = Socket::new(SocketType::Req)?;
    client.set(options::LINGER, 0)?;
    client.connect(endpoint)?;
    Ok(client)
}

/// A REP server that drops one request and comes back.
async fn lpserver(mut socket: Socket, endpoint: String) -> zmq_tokio::Result<()> {
    let mut cycles = 0;
    loop {
        let request = socket.recv_string().await?;
        cycles += 1;
        if cycles == CRASH_AT {
            println!("S: simulating a crash (request {request} goes unanswered)");
            socket.close();
            tokio::time::sleep(Duration::from_millis(700)).await;
            socket = rebind(&endpoint).await?;
            println!("S: back on {endpoint}");
            continue;
        }
        println!("S: normal request ({request})");
        socket.send(request).await?;
    }
}

async fn rebind(endpoint: &str) -> zmq_tokio::Result<Socket> {
    let socket = Socket::new(SocketType::Rep)?;
    loop {
        match socket.bind(endpoint) {
            Ok(_) => return Ok(socket),
            Err(e) if e.errno() == Some(errno::EADDRINUSE) => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
