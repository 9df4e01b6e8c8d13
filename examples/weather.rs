//! The zguide's weather server and client (`wuserver`, `wuclient`):
//! PUB/SUB with a subscription filter.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example weather            # zipcode 10001
//! cargo run --example weather -- 10003   # another zipcode, 10000 to 10009
//! ```
//!
//! The server binds a PUB socket to a free port on 127.0.0.1 and publishes
//! random updates, `"<zipcode> <temperature> <humidity>"`, for ten
//! zipcodes. The client subscribes to one zipcode (a prefix filter that
//! libzmq applies on the publisher's side over TCP), averages 20 updates,
//! and tells the server to stop. A PUB never waits: a subscriber that is
//! not connected yet, or is slow enough to reach its high-water mark, just
//! misses updates.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use zmq_tokio::{Socket, SocketType};

const UPDATES: usize = 20;

#[tokio::main]
async fn main() -> zmq_tokio::Result<()> {
    let zipcode = std::env::args().nth(1).unwrap_or_else(|| "10001".into());

    let publisher = Socket::new(SocketType::Pub)?;
    let endpoint = publisher.bind("tcp://127.0.0.1:*")?;
    println!("weather server publishing on {endpoint}");
    let stop = Arc::new(AtomicBool::new(false));
    let server = tokio::spawn({
        let stop = Arc::clone(&stop);
        async move {
            let mut random = XorShift(0x2545_f491_4f6c_dd1d);
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let zipcode = 10_000 + random.below(10);
                let temperature = random.below(215) as i64 - 80;
                let humidity = random.below(50) + 10;
                publisher
                    .send(format!("{zipcode} {temperature} {humidity}"))
                    .await?;
                sent += 1;
                // Publish at a pace a reader can follow, a burst at a time.
                if sent % 100 == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            Ok::<_, zmq_tokio::Error>(sent)
        }
    });

    let subscriber = Socket::new(SocketType::Sub)?;
    subscriber.connect(&endpoint)?;
    // The trailing space keeps "10001" from matching "100010".
    subscriber.subscribe(format!("{zipcode} "))?;
    println!("collecting {UPDATES} updates for zipcode {zipcode}");
    let mut total = 0i64;
    for _ in 0..UPDATES {
        let update = subscriber.recv_string().await?;
        let temperature: i64 = update
            .split(' ')
            .nth(1)
            .and_then(|t| t.parse().ok())
            .expect("the server's format");
        total += temperature;
    }
    println!(
        "Average temperature for zipcode '{zipcode}' was {}F",
        total / UPDATES as i64
    );

    stop.store(true, Ordering::Relaxed);
    let sent = server.await.expect("the server task panicked")?;
    println!("the server published {sent} updates");
    Ok(())
}

/// A small pseudo-random generator, so the example needs no other crate.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
