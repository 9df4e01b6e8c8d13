//! One run of one binding, for the "Against tmq" table of benches/README.md:
//! REQ/REP round trips or PUSH/PULL throughput over loopback tcp,
//! with the synchronous `zmq` crate (two threads), zmq-tokio or tmq (two
//! tasks on a 2-worker Tokio runtime). All three use the same libzmq
//! (zmq-sys 0.12, built from source).
//!
//! ```text
//! cd tools/tmq-compare && cargo build --release
//! target/release/tmq-compare sync|zmq-tokio|tmq lat|thr COUNT SIZE
//! ```
//!
//! It prints the binding and the mean round trip in µs (`lat`) or the
//! messages per second in thousands (`thr`). The table's medians come from
//! runs alternated in a shell loop, one process per run:
//!
//! ```text
//! for i in $(seq 8); do for b in sync zmq-tokio tmq; do target/release/tmq-compare $b lat 5000 16; done; done
//! for i in $(seq 6); do for b in sync zmq-tokio tmq; do target/release/tmq-compare $b thr 1000000 16; done; done
//! for i in $(seq 6); do for b in sync zmq-tokio tmq; do target/release/tmq-compare $b thr 300000 1024; done; done
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};

/// Where the binding side binds; the other side connects to what it got.
const ENDPOINT: &str = "tcp://127.0.0.1:*";

type Result<T> = std::result::Result<T, String>;

#[derive(Clone, Copy)]
enum Binding {
    Sync,
    ZmqTokio,
    Tmq,
}

#[derive(Clone, Copy)]
enum Workload {
    Lat,
    Thr,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (binding, workload, count, size) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("tmq-compare: {e}\nusage: tmq-compare sync|zmq-tokio|tmq lat|thr COUNT SIZE");
            return ExitCode::from(2);
        }
    };
    let payload = vec![7; size];
    let elapsed = match binding {
        Binding::Sync => sync(workload, count, payload),
        Binding::ZmqTokio => {
            runtime().and_then(|rt| rt.block_on(zmq_tokio(workload, count, payload)))
        }
        Binding::Tmq => runtime().and_then(|rt| rt.block_on(tmq(workload, count, payload))),
    };
    match elapsed {
        Ok(elapsed) => {
            let seconds = elapsed.as_secs_f64();
            match workload {
                Workload::Lat => println!("{} {:.1}", args[0], seconds * 1e6 / count as f64),
                Workload::Thr => println!("{} {:.0}", args[0], count as f64 / seconds / 1e3),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tmq-compare: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<(Binding, Workload, usize, usize)> {
    let [binding, workload, count, size] = args else {
        return Err(format!("expected 4 arguments, got {}", args.len()));
    };
    let binding = match binding.as_str() {
        "sync" => Binding::Sync,
        "zmq-tokio" => Binding::ZmqTokio,
        "tmq" => Binding::Tmq,
        other => {
            return Err(format!(
                "unknown binding {other:?} (sync, zmq-tokio or tmq)"
            ))
        }
    };
    let workload = match workload.as_str() {
        "lat" => Workload::Lat,
        "thr" => Workload::Thr,
        other => return Err(format!("unknown workload {other:?} (lat or thr)")),
    };
    let number = |name: &str, text: &str| match text.parse::<usize>() {
        Ok(0) => Err(format!("{name} must be at least 1")),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{name} {text:?} is not a number: {e}")),
    };
    Ok((
        binding,
        workload,
        number("COUNT", count)?,
        number("SIZE", size)?,
    ))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

/// The `zmq` crate: the binding side on a thread, the timed side on this one.
fn sync(workload: Workload, count: usize, payload: Vec<u8>) -> Result<Duration> {
    let e = |e: zmq::Error| e.to_string();
    let ctx = zmq::Context::new();
    let (bound, connected) = match workload {
        Workload::Lat => (zmq::REP, zmq::REQ),
        Workload::Thr => (zmq::PULL, zmq::PUSH),
    };
    let binder = ctx.socket(bound).map_err(e)?;
    binder.bind(ENDPOINT).map_err(e)?;
    let endpoint = binder
        .get_last_endpoint()
        .map_err(e)?
        .map_err(|_| "endpoint is not UTF-8")?;
    let connecter = ctx.socket(connected).map_err(e)?;
    connecter.connect(&endpoint).map_err(e)?;
    let start = Instant::now();
    let mut msg = zmq::Message::new();
    match workload {
        Workload::Lat => {
            let echo = std::thread::spawn(move || -> zmq::Result<()> {
                for _ in 0..count {
                    let request = binder.recv_msg(0)?;
                    binder.send(request, 0)?;
                }
                Ok(())
            });
            for _ in 0..count {
                connecter.send(&payload[..], 0).map_err(e)?;
                connecter.recv(&mut msg, 0).map_err(e)?;
            }
            echo.join()
                .map_err(|_| "echo thread panicked")?
                .map_err(e)?;
        }
        Workload::Thr => {
            let sending = std::thread::spawn(move || -> zmq::Result<()> {
                (0..count).try_for_each(|_| connecter.send(&payload[..], 0))
            });
            for _ in 0..count {
                binder.recv(&mut msg, 0).map_err(e)?;
            }
            sending
                .join()
                .map_err(|_| "sending thread panicked")?
                .map_err(e)?;
        }
    }
    Ok(start.elapsed())
}

/// zmq-tokio: one task per side.
async fn zmq_tokio(workload: Workload, count: usize, payload: Vec<u8>) -> Result<Duration> {
    use zmq_tokio::{Context, SocketType};
    let e = |e: zmq_tokio::Error| e.to_string();
    let ctx = Context::new();
    let (bound, connected) = match workload {
        Workload::Lat => (SocketType::Rep, SocketType::Req),
        Workload::Thr => (SocketType::Pull, SocketType::Push),
    };
    let binder = ctx.socket(bound).map_err(e)?;
    let endpoint = binder.bind(ENDPOINT).map_err(e)?;
    let connecter = ctx.socket(connected).map_err(e)?;
    connecter.connect(&endpoint).map_err(e)?;
    let start = Instant::now();
    let (timed, other) = match workload {
        Workload::Lat => (
            tokio::spawn(async move {
                for _ in 0..count {
                    connecter.send(&payload[..]).await?;
                    std::hint::black_box(connecter.recv().await?);
                }
                Ok(())
            }),
            tokio::spawn(async move {
                for _ in 0..count {
                    let request = binder.recv().await?;
                    binder.send(request).await?;
                }
                Ok(())
            }),
        ),
        Workload::Thr => (
            tokio::spawn(async move {
                for _ in 0..count {
                    std::hint::black_box(binder.recv().await?);
                }
                Ok(())
            }),
            tokio::spawn(async move {
                for _ in 0..count {
                    connecter.send(&payload[..]).await?;
                }
                Ok::<_, zmq_tokio::Error>(())
            }),
        ),
    };
    timed.await.map_err(|e| e.to_string())?.map_err(e)?;
    let elapsed = start.elapsed();
    other.await.map_err(|e| e.to_string())?.map_err(e)?;
    Ok(elapsed)
}

/// tmq 0.5: one task per side; REQ and REP change type with each call.
async fn tmq(workload: Workload, count: usize, payload: Vec<u8>) -> Result<Duration> {
    use tmq::AsZmqSocket;
    let e = |e: tmq::TmqError| e.to_string();
    let last_endpoint = |socket: &zmq::Socket| -> Result<String> {
        socket
            .get_last_endpoint()
            .map_err(|e| e.to_string())?
            .map_err(|_| "endpoint is not UTF-8".into())
    };
    let ctx = zmq::Context::new();
    let start;
    let (timed, other) = match workload {
        Workload::Lat => {
            let mut rep = tmq::reply(&ctx).bind(ENDPOINT).map_err(e)?;
            let endpoint = last_endpoint(rep.get_socket())?;
            let mut req = tmq::request(&ctx).connect(&endpoint).map_err(e)?;
            start = Instant::now();
            (
                tokio::spawn(async move {
                    for _ in 0..count {
                        let request = tmq::Multipart::from(vec![zmq::Message::from(&payload[..])]);
                        let (reply, next) = req
                            .send(request)
                            .await
                            .map_err(e)?
                            .recv()
                            .await
                            .map_err(e)?;
                        std::hint::black_box(reply);
                        req = next;
                    }
                    Ok::<_, String>(())
                }),
                tokio::spawn(async move {
                    for _ in 0..count {
                        let (request, sender) = rep.recv().await.map_err(e)?;
                        rep = sender.send(request).await.map_err(e)?;
                    }
                    Ok(())
                }),
            )
        }
        Workload::Thr => {
            let mut pull = tmq::pull(&ctx).bind(ENDPOINT).map_err(e)?;
            let endpoint = last_endpoint(pull.get_socket())?;
            let mut push = tmq::push(&ctx).connect(&endpoint).map_err(e)?;
            start = Instant::now();
            (
                tokio::spawn(async move {
                    for _ in 0..count {
                        let msg = pull.next().await.ok_or("the PULL stream ended")?;
                        std::hint::black_box(msg.map_err(e)?);
                    }
                    Ok::<_, String>(())
                }),
                tokio::spawn(async move {
                    for _ in 0..count {
                        push.send(vec![zmq::Message::from(&payload[..])])
                            .await
                            .map_err(e)?;
                    }
                    Ok::<_, String>(())
                }),
            )
        }
    };
    timed.await.map_err(|e| e.to_string())??;
    let elapsed = start.elapsed();
    other.await.map_err(|e| e.to_string())??;
    Ok(elapsed)
}
