//! The zguide's Paranoid Pirate (`ppqueue` and `ppworker`): a queue and
//! workers that watch each other with heartbeats, and a Lazy Pirate
//! client that retries what a dead worker lost.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example ppqueue
//! ```
//!
//! The queue has a ROUTER for clients and a ROUTER for workers, and keeps
//! the idle workers with the time each expires. Workers are DEALERs that
//! say `READY` (`\x01`), then exchange heartbeats (`\x02`) with the
//! queue every 250 ms. Each side runs one `tokio::select!` loop over its
//! sockets and its timers:
//!
//! - the queue reads clients only while a worker is idle, sends
//!   heartbeats to idle workers, and forgets a worker it has not heard
//!   from for three intervals;
//! - a worker that hears nothing from the queue for three intervals
//!   closes its socket and reconnects after a back-off that doubles.
//!
//! Worker 1 "crashes" at its second request: the request is lost, the
//! client times out and sends it again, and the queue hands it to a
//! worker that is alive. Everything runs on 127.0.0.1 and stops by itself.

use std::time::Duration;

use tokio::time::{sleep, sleep_until, Instant};
use zmq_tokio::{options, Context, Message, Socket, SocketType};

const HEARTBEAT_LIVENESS: u32 = 3;
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(250);
const RECONNECT_INITIAL: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(8);
const PPP_READY: &[u8] = b"\x01";
const PPP_HEARTBEAT: &[u8] = b"\x02";

const REQUESTS: u32 = 8;
const REQUEST_TIMEOUT: Duration = Duration::from_millis(600);
const REQUEST_RETRIES: u32 = 3;

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let ctx = Context::new();
    let frontend = ctx.socket(SocketType::Router)?;
    let frontend_endpoint = frontend.bind("tcp://127.0.0.1:*")?;
    let backend = ctx.socket(SocketType::Router)?;
    let backend_endpoint = backend.bind("tcp://127.0.0.1:*")?;

    tokio::spawn(ppworker(ctx.clone(), 1, backend_endpoint.clone(), Some(2)));
    tokio::spawn(ppworker(ctx.clone(), 2, backend_endpoint.clone(), None));

    let (done, mut finished) = tokio::sync::oneshot::channel::<()>();
    let client = tokio::spawn(lpclient(ctx.clone(), frontend_endpoint, done));

    // ppqueue: idle workers, oldest first, with the time each expires.
    let mut idle: Vec<(Message, Instant)> = Vec::new();
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    loop {
        tokio::select! {
            msg = backend.recv() => {
                // [worker id, READY | HEARTBEAT] or [worker id, client id, "", reply]
                let mut msg = msg?;
                let worker = msg.pop_front().expect("a routing id");
                idle.retain(|(id, _)| *id != worker);
                idle.push((worker, Instant::now() + HEARTBEAT_INTERVAL * HEARTBEAT_LIVENESS));
                if msg.len() > 1 {
                    frontend.send(msg).await?;
                } else if msg[0] != PPP_READY && msg[0] != PPP_HEARTBEAT {
                    println!("Q: invalid message from a worker: {msg:?}");
                }
            }
            msg = frontend.recv(), if !idle.is_empty() => {
                let (worker, _) = idle.remove(0);
                backend.send((worker, msg?)).await?;
            }
            _ = heartbeat.tick() => {
                for (worker, _) in &idle {
                    backend.send((worker, PPP_HEARTBEAT)).await?;
                }
                let now = Instant::now();
                idle.retain(|(worker, expiry)| {
                    let alive = *expiry > now;
                    if !alive {
                        println!("Q: worker {worker} expired");
                    }
                    alive
                });
            }
            _ = &mut finished => break,
        }
    }

    let answered = client.await.expect("the client task panicked")?;
    println!("I: all {answered} requests answered");
    ctx.terminate().await?;
    Ok(())
}

/// A Paranoid Pirate worker; `crash_at` makes it vanish at that request.
async fn ppworker(
    ctx: Context,
    id: u32,
    endpoint: String,
    crash_at: Option<u32>,
) -> zmq_tokio::Result<()> {
    let mut generation = 0;
    let mut worker = connect_worker(&ctx, id, &mut generation, &endpoint).await?;
    let mut liveness = HEARTBEAT_LIVENESS;
    let mut reconnect = RECONNECT_INITIAL;
    let mut silence_deadline = Instant::now() + HEARTBEAT_INTERVAL;
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    let mut served = 0;
    loop {
        tokio::select! {
            msg = worker.recv() => {
                let msg = msg?;
                if msg.len() == 3 {
                    // [client id, "", request]
                    served += 1;
                    if Some(served) == crash_at {
                        println!("W{id}: simulating a crash at request {}", msg[2]);
                        return Ok(());
                    }
                    println!("W{id}: normal reply ({})", msg[2]);
                    sleep(Duration::from_millis(10)).await;
                    worker.send(msg).await?;
                } else if msg.len() != 1 || msg[0] != PPP_HEARTBEAT {
                    println!("W{id}: invalid message: {msg:?}");
                }
                liveness = HEARTBEAT_LIVENESS;
                reconnect = RECONNECT_INITIAL;
                silence_deadline = Instant::now() + HEARTBEAT_INTERVAL;
            }
            () = sleep_until(silence_deadline) => {
                liveness -= 1;
                silence_deadline += HEARTBEAT_INTERVAL;
                if liveness == 0 {
                    println!("W{id}: heartbeat failure, reconnecting in {reconnect:?}");
                    sleep(reconnect).await;
                    reconnect = (reconnect * 2).min(RECONNECT_MAX);
                    worker = connect_worker(&ctx, id, &mut generation, &endpoint).await?;
                    liveness = HEARTBEAT_LIVENESS;
                    silence_deadline = Instant::now() + HEARTBEAT_INTERVAL;
                }
            }
            _ = heartbeat.tick() => worker.send(PPP_HEARTBEAT).await?,
        }
    }
}

/// A new DEALER for a worker, with a routing id of its own, that has said
/// READY to the queue.
async fn connect_worker(
    ctx: &Context,
    id: u32,
    generation: &mut u32,
    endpoint: &str,
) -> zmq_tokio::Result<Socket> {
    *generation += 1;
    let worker = Socket::builder(SocketType::Dealer)
        .context(ctx)
        .routing_id(format!("W{id}.{generation}"))
        .set(options::LINGER, 0)
        .connect(endpoint)
        .build()?;
    worker.send(PPP_READY).await?;
    println!("W{id}: worker ready");
    Ok(worker)
}

/// The Lazy Pirate client of `lpclient`, talking to the queue.
async fn lpclient(
    ctx: Context,
    endpoint: String,
    done: tokio::sync::oneshot::Sender<()>,
) -> zmq_tokio::Result<u32> {
    let connect = || -> zmq_tokio::Result<Socket> {
        Socket::builder(SocketType::Req)
            .context(&ctx)
            .set(options::LINGER, 0)
            .connect(&endpoint)
            .build()
    };
    let mut client = connect()?;
    for sequence in 1..=REQUESTS {
        let request = sequence.to_string();
        client.send(request.as_str()).await?;
        let mut retries_left = REQUEST_RETRIES;
        loop {
            match tokio::time::timeout(REQUEST_TIMEOUT, client.recv_string()).await {
                Ok(reply) => {
                    assert_eq!(reply?, request, "the workers echo the request");
                    println!("C: server replied OK ({request})");
                    break;
                }
                Err(_elapsed) => {
                    retries_left -= 1;
                    if retries_left == 0 {
                        println!("C: server seems to be offline, abandoning");
                        std::process::exit(1);
                    }
                    println!("C: no response from server, retrying...");
                    client.close();
                    client = connect()?;
                    client.send(request.as_str()).await?;
                }
            }
        }
    }
    let _ = done.send(());
    Ok(REQUESTS)
}
