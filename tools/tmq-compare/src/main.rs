//! One run of one binding, for the "Against tmq" tables of benches/README.md:
//! REQ/REP round trips or PUSH/PULL throughput over loopback tcp,
//! with the synchronous `zmq` crate (two threads), zmq-tokio or tmq (two
//! tasks on a 2-worker Tokio runtime). All three use the same libzmq
//! (zmq-sys 0.12, built from source).
//!
//! ```text
//! cd tools/tmq-compare && cargo build --release
//! target/release/tmq-compare sync|zmq-tokio|tmq lat|lat-main|lat-spawned|lat-current|thr COUNT SIZE
//! ```
//!
//! The round trips come in the three shapes of SPEC §3, for zmq-tokio and
//! tmq:
//!
//! - `lat-main`: the REQ client runs in `Runtime::block_on` on the main
//!   thread (what `#[tokio::main]` does), the REP server is spawned on the
//!   2-worker runtime;
//! - `lat-spawned` (or `lat`): both are spawned on the 2-worker runtime;
//! - `lat-current`: both on a current-thread runtime, the client in
//!   `block_on`, the server spawned.
//!
//! The sync binding has one shape (the client on the main thread, the REP
//! server on another) and runs it for all three names, so that a loop can
//! alternate all bindings and shapes alike.
//!
//! It prints the binding, the workload and the mean round trip in µs (`lat*`)
//! or the messages per second in thousands (`thr`). The tables' medians come
//! from runs alternated in a shell loop, one process per run:
//!
//! ```text
//! for i in $(seq 8); do for s in lat-main lat-spawned lat-current; do for b in sync zmq-tokio tmq; do target/release/tmq-compare $b $s 4000 16; done; done; done
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
    Lat(Shape),
    Thr,
}

/// Where an async binding's REQ client and REP server run.
#[derive(Clone, Copy)]
enum Shape {
    /// The client in `block_on` on the main thread, the server spawned on
    /// the 2-worker runtime.
    Main,
    /// Both spawned on the 2-worker runtime.
    Spawned,
    /// Both on a current-thread runtime, the client in `block_on`.
    Current,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (binding, workload, count, size) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!(
                "tmq-compare: {e}\nusage: tmq-compare sync|zmq-tokio|tmq \
                 lat|lat-main|lat-spawned|lat-current|thr COUNT SIZE"
            );
            return ExitCode::from(2);
        }
    };
    let payload = vec![7; size];
    let elapsed = match binding {
        Binding::Sync => sync(workload, count, payload),
        Binding::ZmqTokio => {
            runtime(workload).and_then(|rt| rt.block_on(zmq_tokio(workload, count, payload)))
        }
        Binding::Tmq => runtime(workload).and_then(|rt| rt.block_on(tmq(workload, count, payload))),
    };
    match elapsed {
        Ok(elapsed) => {
            let seconds = elapsed.as_secs_f64();
            match workload {
                Workload::Lat(_) => println!(
                    "{} {} {:.1}",
                    args[0],
                    args[1],
                    seconds * 1e6 / count as f64
                ),
                Workload::Thr => println!(
                    "{} {} {:.0}",
                    args[0],
                    args[1],
                    count as f64 / seconds / 1e3
                ),
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
        "lat" | "lat-spawned" => Workload::Lat(Shape::Spawned),
        "lat-main" => Workload::Lat(Shape::Main),
        "lat-current" => Workload::Lat(Shape::Current),
        "thr" => Workload::Thr,
        other => {
            return Err(format!(
                "unknown workload {other:?} (lat, lat-main, lat-spawned, lat-current or thr)"
            ))
        }
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

/// A 2-worker runtime, or a current-thread one for `lat-current`.
fn runtime(workload: Workload) -> Result<tokio::runtime::Runtime> {
    match workload {
        Workload::Lat(Shape::Current) => tokio::runtime::Builder::new_current_thread(),
        _ => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        }
    }
    .enable_all()
    .build()
    .map_err(|e| format!("runtime: {e}"))
}

/// The `zmq` crate: the binding side on a thread, the timed side on this one.
fn sync(workload: Workload, count: usize, payload: Vec<u8>) -> Result<Duration> {
    let e = |e: zmq::Error| e.to_string();
    let ctx = zmq::Context::new();
    let (bound, connected) = match workload {
        Workload::Lat(_) => (zmq::REP, zmq::REQ),
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
        // One shape: the client here, the server on a thread.
        Workload::Lat(_) => {
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

/// Runs `client` as the workload's shape asks (spawned, or in this
/// `block_on`) and returns how long it took; the server is already spawned.
async fn timed<E>(
    shape: Shape,
    start: Instant,
    client: impl std::future::Future<Output = std::result::Result<(), E>> + Send + 'static,
) -> Result<Duration>
where
    E: std::fmt::Display + Send + 'static,
{
    match shape {
        Shape::Spawned => tokio::spawn(client)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?,
        Shape::Main | Shape::Current => client.await.map_err(|e| e.to_string())?,
    }
    Ok(start.elapsed())
}

/// zmq-tokio: one task per side, or the client in `block_on` (`lat-main`,
/// `lat-current`).
async fn zmq_tokio(workload: Workload, count: usize, payload: Vec<u8>) -> Result<Duration> {
    use zmq_tokio::{Context, SocketType};
    let e = |e: zmq_tokio::Error| e.to_string();
    let ctx = Context::new();
    let (bound, connected) = match workload {
        Workload::Lat(_) => (SocketType::Rep, SocketType::Req),
        Workload::Thr => (SocketType::Pull, SocketType::Push),
    };
    let binder = ctx.socket(bound).map_err(e)?;
    let endpoint = binder.bind(ENDPOINT).map_err(e)?;
    let connecter = ctx.socket(connected).map_err(e)?;
    connecter.connect(&endpoint).map_err(e)?;
    let start = Instant::now();
    match workload {
        Workload::Lat(shape) => {
            let server = tokio::spawn(async move {
                for _ in 0..count {
                    let request = binder.recv().await?;
                    binder.send(request).await?;
                }
                Ok::<_, zmq_tokio::Error>(())
            });
            let client = async move {
                for _ in 0..count {
                    connecter.send(&payload[..]).await?;
                    std::hint::black_box(connecter.recv().await?);
                }
                Ok::<_, zmq_tokio::Error>(())
            };
            let elapsed = timed(shape, start, client).await?;
            server.await.map_err(|e| e.to_string())?.map_err(e)?;
            Ok(elapsed)
        }
        Workload::Thr => {
            let receiving = tokio::spawn(async move {
                for _ in 0..count {
                    std::hint::black_box(binder.recv().await?);
                }
                Ok(())
            });
            let sending = tokio::spawn(async move {
                for _ in 0..count {
                    connecter.send(&payload[..]).await?;
                }
                Ok::<_, zmq_tokio::Error>(())
            });
            receiving.await.map_err(|e| e.to_string())?.map_err(e)?;
            let elapsed = start.elapsed();
            sending.await.map_err(|e| e.to_string())?.map_err(e)?;
            Ok(elapsed)
        }
    }
}

/// tmq 0.5: one task per side, or the client in `block_on` (`lat-main`,
/// `lat-current`); REQ and REP change type with each call.
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
    match workload {
        Workload::Lat(shape) => {
            let mut rep = tmq::reply(&ctx).bind(ENDPOINT).map_err(e)?;
            let endpoint = last_endpoint(rep.get_socket())?;
            let mut req = tmq::request(&ctx).connect(&endpoint).map_err(e)?;
            let start = Instant::now();
            let server = tokio::spawn(async move {
                for _ in 0..count {
                    let (request, sender) = rep.recv().await.map_err(e)?;
                    rep = sender.send(request).await.map_err(e)?;
                }
                Ok::<_, String>(())
            });
            let client = async move {
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
            };
            let elapsed = timed(shape, start, client).await?;
            server.await.map_err(|e| e.to_string())??;
            Ok(elapsed)
        }
        Workload::Thr => {
            let mut pull = tmq::pull(&ctx).bind(ENDPOINT).map_err(e)?;
            let endpoint = last_endpoint(pull.get_socket())?;
            let mut push = tmq::push(&ctx).connect(&endpoint).map_err(e)?;
            let start = Instant::now();
            let receiving = tokio::spawn(async move {
                for _ in 0..count {
                    let msg = pull.next().await.ok_or("the PULL stream ended")?;
                    std::hint::black_box(msg.map_err(e)?);
                }
                Ok::<_, String>(())
            });
            let sending = tokio::spawn(async move {
                for _ in 0..count {
                    push.send(vec![zmq::Message::from(&payload[..])])
                        .await
                        .map_err(e)?;
                }
                Ok::<_, String>(())
            });
            receiving.await.map_err(|e| e.to_string())??;
            let elapsed = start.elapsed();
            sending.await.map_err(|e| e.to_string())??;
            Ok(elapsed)
        }
    }
}
