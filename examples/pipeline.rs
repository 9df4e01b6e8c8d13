//! The zguide's divide-and-conquer pipeline (`taskvent`, `taskwork`,
//! `tasksink`): a ventilator PUSHes tasks to workers, which PUSH results
//! to a sink.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example pipeline
//! ```
//!
//! The ventilator and the sink bind free ports on 127.0.0.1; three worker
//! tasks connect to both. A PUSH deals its messages round-robin to the
//! peers connected *at that moment*, so the ventilator waits (with a
//! socket monitor) until every worker's connection is up before it sends:
//! otherwise the first worker to connect gets all the tasks. Each task is
//! a sleep of a few milliseconds; the sink prints how long the batch took
//! with three workers, then the context is terminated, which ends the
//! workers.

use std::time::{Duration, Instant};

use zmq_tokio::{Context, Event, EventMask, SocketType};

const WORKERS: usize = 3;
const TASKS: u64 = 60;

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let ctx = Context::new();

    // taskvent: the ventilator.
    let sender = ctx.socket(SocketType::Push)?;
    let mut handshakes = sender.monitor(EventMask::HANDSHAKE_SUCCEEDED)?;
    let vent_endpoint = sender.bind("tcp://127.0.0.1:*")?;
    // tasksink: the sink.
    let sink = ctx.socket(SocketType::Pull)?;
    let sink_endpoint = sink.bind("tcp://127.0.0.1:*")?;

    // taskwork: the workers.
    let mut workers = Vec::new();
    for id in 1..=WORKERS {
        let receiver = ctx.socket(SocketType::Pull)?;
        receiver.connect(&vent_endpoint)?;
        let results = ctx.socket(SocketType::Push)?;
        results.connect(&sink_endpoint)?;
        workers.push(tokio::spawn(async move {
            let mut done = 0;
            // Ends when the context is terminated.
            while let Ok(workload) = receiver.recv_string().await {
                let millis: u64 = workload.parse().expect("a number of milliseconds");
                tokio::time::sleep(Duration::from_millis(millis)).await;
                if results.send(format!("{id}")).await.is_err() {
                    break;
                }
                done += 1;
            }
            (id, done)
        }));
    }

    // Wait until every worker is connected to the ventilator.
    for _ in 0..WORKERS {
        let event = handshakes.next_event().await.expect("the monitor runs")?;
        assert_eq!(event.event, Event::HandshakeSucceeded);
    }
    println!("ventilator: {WORKERS} workers connected, sending {TASKS} tasks");

    let start = Instant::now();
    let mut expected = 0;
    for task in 0..TASKS {
        // Workloads from 1 to 10 ms, a fixed spread.
        let millis = task * 7 % 10 + 1;
        expected += millis;
        sender.send(millis.to_string()).await?;
    }
    println!("ventilator: total expected cost {expected} msec");

    for done in 1..=TASKS {
        sink.recv().await?;
        if done % 10 == 0 {
            println!("sink: {done} results");
        }
    }
    println!("Total elapsed time: {} msec", start.elapsed().as_millis());

    ctx.terminate().await?;
    for worker in workers {
        let (id, done) = worker.await.expect("a worker task panicked");
        println!("worker {id} did {done} tasks");
    }
    Ok(())
}
