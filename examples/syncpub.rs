//! The zguide's node coordination (`syncpub` and `syncsub`): a publisher
//! that waits for its subscribers before it publishes, so that none
//! misses the start.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example syncpub
//! ```
//!
//! A PUB drops what it sends before a subscriber is connected and
//! subscribed: the "slow joiner". So each subscriber, once its SUB is
//! connected and subscribed, sends a request on a second socket, a REQ to
//! the publisher's REP, and the publisher starts only when every
//! subscriber has asked. The subscription travels to the publisher on the
//! SUB's own connection, so each subscriber first waits until that
//! connection is up (a socket monitor's `HANDSHAKE_SUCCEEDED`): then its
//! subscription is on the wire before its request is. (An XPUB, which
//! receives the subscriptions themselves, is the other way to know.)
//!
//! Three subscriber tasks, 1,000 updates, then `END`; all on 127.0.0.1.

use zmq_tokio::{Event, EventMask, Socket, SocketType};

const SUBSCRIBERS: usize = 3;
const UPDATES: usize = 1000;

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let publisher = Socket::new(SocketType::Pub)?;
    // Room for the whole burst, for slow subscriber tasks.
    publisher.set(zmq_tokio::options::SNDHWM, 1_100)?;
    let pub_endpoint = publisher.bind("tcp://127.0.0.1:*")?;
    let sync_service = Socket::new(SocketType::Rep)?;
    let sync_endpoint = sync_service.bind("tcp://127.0.0.1:*")?;

    let mut subscribers = Vec::new();
    for id in 0..SUBSCRIBERS {
        let (pub_endpoint, sync_endpoint) = (pub_endpoint.clone(), sync_endpoint.clone());
        subscribers.push(tokio::spawn(async move {
            let subscriber = Socket::new(SocketType::Sub)?;
            let mut monitor = subscriber.monitor(EventMask::HANDSHAKE_SUCCEEDED)?;
            subscriber.connect(&pub_endpoint)?;
            subscriber.subscribe("")?;
            let up = monitor.next_event().await.expect("the monitor runs")?;
            assert_eq!(up.event, Event::HandshakeSucceeded);

            let sync = Socket::new(SocketType::Req)?;
            sync.connect(&sync_endpoint)?;
            sync.send("").await?;
            sync.recv().await?;

            let mut received = 0;
            while subscriber.recv_string().await? != "END" {
                received += 1;
            }
            println!("subscriber {id}: received {received} updates");
            Ok::<_, zmq_tokio::Error>(received)
        }));
    }

    for joined in 1..=SUBSCRIBERS {
        sync_service.recv().await?;
        sync_service.send("").await?;
        println!("publisher: {joined} of {SUBSCRIBERS} subscribers ready");
    }
    for n in 0..UPDATES {
        publisher.send(format!("Rhubarb {n}")).await?;
    }
    publisher.send("END").await?;

    let mut complete = 0;
    for subscriber in subscribers {
        if subscriber.await.expect("a subscriber task panicked")? == UPDATES {
            complete += 1;
        }
    }
    println!("syncpub: {complete} of {SUBSCRIBERS} subscribers received all {UPDATES} updates");
    Ok(())
}
