//! Throughput and latency of zmq-tokio, in the spirit of libzmq's
//! `local_thr`/`remote_thr` and `local_lat`/`remote_lat`.
//!
//! - `thr`: a PUSH socket sends `--count` messages of `--size` bytes as fast
//!   as it can; the PULL socket that receives them measures, from the first
//!   message to the last, messages per second and MB/s.
//! - `lat`: a REQ socket sends `--count` messages of `--size` bytes one at a
//!   time to a REP socket that echoes them, and times each round trip: mean,
//!   p50, p99 and max. (libzmq's `local_lat` prints half a round trip; this
//!   prints the whole round trip.) One extra round trip, not timed, comes
//!   first, so that the connection is up when timing starts.
//!
//! Every socket runs in a task of its own on a multi-thread Tokio runtime
//! (`--workers`, default 2). A progress line (messages so far, current rate)
//! is updated every half second while a test runs; a table of results
//! follows.
//!
//! # One process
//!
//! ```text
//! cargo run --release --example perf                 # thr, then lat, tcp loopback, 16 B
//! cargo run --release --example perf -- thr --size 1k --transport inproc
//! cargo run --release --example perf -- lat --size 64k --count 5000 --transport ipc
//! ```
//!
//! Both sides run in this process: the receiving (or echoing) socket binds
//! a free endpoint (`tcp://127.0.0.1:*`, a fresh ipc path, or an inproc name)
//! and the other connects to it.
//!
//! # Two machines (or two processes)
//!
//! `--bind` runs the side that binds, `--connect` the side that connects, of
//! one test named first (`thr` or `lat`). Give both sides the same `--size`
//! and `--count`.
//!
//! ```text
//! # thr: the --bind side receives and MEASURES; the --connect side sends.
//! host-a$ cargo run --release --example perf -- thr --bind --endpoint tcp://*:5555
//! host-b$ cargo run --release --example perf -- thr --connect --endpoint tcp://host-a:5555
//!
//! # lat: the --bind side echoes; the --connect side sends and MEASURES.
//! host-a$ cargo run --release --example perf -- lat --bind --endpoint tcp://*:5555
//! host-b$ cargo run --release --example perf -- lat --connect --endpoint tcp://host-a:5555
//! ```
//!
//! Without `--endpoint`, `--bind` binds `tcp://*:5555` and `--connect`
//! connects to `tcp://127.0.0.1:5555` (with `--transport ipc`, both use
//! `ipc:///tmp/zmq-tokio-perf.ipc`). `inproc` works only inside one process,
//! so it cannot be combined with `--bind`/`--connect`. Either side may start
//! first. The sending side of `thr` waits, when it is done, until its last
//! messages have left (as `remote_thr` does): stop it with Ctrl-C if the
//! receiver has gone. The receiving side gives up, with what it got so far,
//! when no message has come for 5 s: over ipc, libzmq itself (4.3.4 and
//! 4.3.5) sometimes drops the last few hundred messages of a connecting
//! socket that is closed right after sending them, whatever its `LINGER`.
//! In one process the sender's socket stays open until the receiver has
//! every message, so this cannot happen there.
//!
//! Run `cargo run --release --example perf -- --help` for every option.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zmq_tokio::{options, Context, Message, Socket, SocketType};

const USAGE: &str = "\
perf: throughput and latency of zmq-tokio (like libzmq's local_thr/remote_thr, local_lat/remote_lat)

USAGE:
    perf [thr|lat] [OPTIONS]

MODES:
    thr        PUSH sends --count messages; PULL receives them and measures msgs/s, MB/s
    lat        REQ sends --count messages one by one; REP echoes; REQ measures round trips
    (none)     thr, then lat, both sides in this process

OPTIONS:
    --size BYTES        message size; k = 1024, M = 1048576 (16, 1k, 64k, 1M) [default: 16]
    --count N           messages (thr) or round trips (lat); k = 1000, M = 1000000
                        [default: thr 1M messages (at most 1 GiB in all), lat 10k]
    --transport T       tcp, ipc or inproc [default: tcp]
    --endpoint EP       the endpoint to bind or connect to (its transport wins over
                        --transport) [default: tcp://127.0.0.1:* in one process]
    --bind              run only the side that binds: the receiver (thr, measures)
                        or the echo server (lat); default endpoint tcp://*:5555
    --connect           run only the side that connects: the sender (thr) or the
                        client (lat, measures); default endpoint tcp://127.0.0.1:5555
    --workers N         Tokio worker threads [default: 2]
    -h, --help          this text

EXAMPLES:
    perf                                          thr and lat over tcp loopback, 16 B
    perf thr --size 1k --transport inproc         one process, inproc
    perf thr --bind --endpoint tcp://*:5555       machine A: receives, measures
    perf thr --connect --endpoint tcp://A:5555    machine B: sends
    perf lat --bind --endpoint tcp://*:5555       machine A: echoes
    perf lat --connect --endpoint tcp://A:5555    machine B: measures round trips
";

/// How long the thr receiver waits for the next message, once the first
/// has come, before it reports that the rest is not coming.
const IDLE_LIMIT: Duration = Duration::from_secs(5);

/// The largest `--size`: the sending side keeps one payload, the receiving
/// side up to a high-water mark of them.
const MAX_SIZE: usize = 256 << 20;

// ------------------------------------------------------------- options ---

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Thr,
    Lat,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Thr => "thr",
            Mode::Lat => "lat",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Both sides in this process.
    Both,
    Bind,
    Connect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Ipc,
    Inproc,
}

impl Transport {
    fn parse(text: &str) -> Option<Transport> {
        match text {
            "tcp" => Some(Transport::Tcp),
            "ipc" => Some(Transport::Ipc),
            "inproc" => Some(Transport::Inproc),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ipc => "ipc",
            Transport::Inproc => "inproc",
        }
    }
}

#[derive(Debug)]
struct Options {
    modes: Vec<Mode>,
    size: usize,
    /// `None`: the mode's default.
    count: Option<u64>,
    /// The transport's name, for the table (an `--endpoint` may name one
    /// that `--transport` does not offer, such as `ws`).
    transport: String,
    /// `None`: the default for the transport and role.
    endpoint: Option<String>,
    role: Role,
    workers: usize,
}

impl Options {
    fn count(&self, mode: Mode) -> u64 {
        self.count.unwrap_or(match mode {
            Mode::Thr => ((1u64 << 30) / self.size.max(1024) as u64).min(1_000_000),
            Mode::Lat => 10_000,
        })
    }

    /// The endpoint to bind (`Both`, `Bind`) or connect to (`Connect`).
    fn endpoint(&self, mode: Mode) -> String {
        if let Some(endpoint) = &self.endpoint {
            return endpoint.clone();
        }
        match (self.transport.as_str(), self.role) {
            ("tcp", Role::Both) => "tcp://127.0.0.1:*".to_owned(),
            ("tcp", Role::Bind) => "tcp://*:5555".to_owned(),
            ("tcp", Role::Connect) => "tcp://127.0.0.1:5555".to_owned(),
            ("ipc", Role::Both) => format!(
                "ipc:///tmp/zmq-tokio-perf-{}-{}.ipc",
                std::process::id(),
                mode.name()
            ),
            ("ipc", _) => "ipc:///tmp/zmq-tokio-perf.ipc".to_owned(),
            (_, _) => format!("inproc://zmq-tokio-perf-{}", mode.name()),
        }
    }
}

enum Parsed {
    Help,
    Run(Options),
}

/// Parses `16`, `1k`, `64KiB`, `1M` (binary multiples).
fn parse_size(text: &str) -> Result<usize, String> {
    let bad =
        || format!("--size expects a number of bytes such as 16, 1024, 64k or 1M; got {text:?}");
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(bad());
    }
    let unit: usize = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return Err(bad()),
    };
    let size = digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(bad)?;
    if size > MAX_SIZE {
        return Err(format!(
            "--size {text} is more than this tool allows ({} MiB)",
            MAX_SIZE >> 20
        ));
    }
    Ok(size)
}

/// Parses `10000`, `10_000`, `10k`, `1M` (decimal multiples).
fn parse_count(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("--count expects a positive whole number such as 10000, 10k or 1M; got {text:?}")
    };
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (digits, unit) = match cleaned.to_ascii_lowercase().as_bytes().last() {
        Some(b'k') => (&cleaned[..cleaned.len() - 1], 1_000),
        Some(b'm') => (&cleaned[..cleaned.len() - 1], 1_000_000),
        _ => (&cleaned[..], 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let count = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(bad)?;
    if count == 0 {
        return Err("--count must be at least 1".to_owned());
    }
    Ok(count)
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut args = args.into_iter();
    let mut mode = None;
    let mut size = 16;
    let mut count = None;
    let mut transport = None;
    let mut endpoint: Option<String> = None;
    let mut bind = false;
    let mut connect = false;
    let mut workers = 2;
    while let Some(arg) = args.next() {
        // --name=value or --name value
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let takes_value = matches!(
            name.as_str(),
            "--size" | "--count" | "--transport" | "--endpoint" | "--workers"
        );
        if !takes_value && inline.is_some() {
            return Err(format!("{name} takes no value"));
        }
        let mut value = || -> Result<String, String> {
            match inline.clone().or_else(|| args.next()) {
                Some(value) => Ok(value),
                None => Err(format!("{name} needs a value")),
            }
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--size" => size = parse_size(&value()?)?,
            "--count" => count = Some(parse_count(&value()?)?),
            "--transport" => {
                let text = value()?;
                transport = Some(Transport::parse(&text).ok_or_else(|| {
                    format!("unknown transport {text:?}: expected tcp, ipc or inproc")
                })?);
            }
            "--endpoint" => endpoint = Some(value()?),
            "--workers" => {
                let text = value()?;
                workers = match text.parse::<usize>() {
                    Ok(n) if (1..=64).contains(&n) => n,
                    _ => {
                        return Err(format!(
                            "--workers expects a number of threads from 1 to 64; got {text:?}"
                        ))
                    }
                };
            }
            "--bind" => bind = true,
            "--connect" => connect = true,
            "thr" | "lat" => {
                if mode.is_some() {
                    return Err(format!(
                        "more than one mode given ({arg}): run thr or lat, or neither for both"
                    ));
                }
                mode = Some(if arg == "thr" { Mode::Thr } else { Mode::Lat });
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
            other => {
                return Err(format!(
                    "unknown mode {other:?}: expected thr or lat (or none, for both)"
                ))
            }
        }
    }

    let role = match (bind, connect) {
        (false, false) => Role::Both,
        (true, false) => Role::Bind,
        (false, true) => Role::Connect,
        (true, true) => {
            return Err(
                "--bind and --connect are the two sides of one test: give one per process \
                 (or neither, to run both sides here)"
                    .to_owned(),
            )
        }
    };
    if role != Role::Both && mode.is_none() {
        return Err(
            "--bind/--connect run one side of one test: name it first, `thr` or `lat`".to_owned(),
        );
    }

    // The transport: from the endpoint when there is one.
    let transport = match &endpoint {
        Some(ep) => {
            let Some((scheme, _)) = ep.split_once("://") else {
                return Err(format!(
                    "--endpoint {ep:?} is not transport://address, such as tcp://127.0.0.1:5555"
                ));
            };
            if let Some(t) = transport {
                if t.name() != scheme {
                    return Err(format!(
                        "--transport {} and --endpoint {ep:?} disagree: give one of them",
                        t.name()
                    ));
                }
            }
            scheme.to_owned()
        }
        None => transport.unwrap_or(Transport::Tcp).name().to_owned(),
    };
    if transport == "inproc" && role != Role::Both {
        return Err(
            "inproc cannot cross processes: an inproc:// endpoint exists only inside the \
             context (and so the process) that bound it. Across processes or machines use \
             --transport tcp (or ipc on one machine); to measure inproc, drop --bind/--connect \
             and run both sides in this process."
                .to_owned(),
        );
    }
    if transport == "ipc" && !zmq_tokio::has("ipc") {
        return Err("this libzmq was built without ipc support: use tcp or inproc".to_owned());
    }
    let modes = match mode {
        Some(mode) => vec![mode],
        None => vec![Mode::Thr, Mode::Lat],
    };
    let options = Options {
        modes,
        size,
        count,
        transport,
        endpoint,
        role,
        workers,
    };
    if options.modes.contains(&Mode::Thr) && options.count(Mode::Thr) < 2 {
        return Err("thr needs --count 2 or more: timing starts at the first message".to_owned());
    }
    Ok(Parsed::Run(options))
}

// ------------------------------------------------------------ progress ---

/// A line on stderr, updated every half second from a thread of its own
/// (so that it costs the measured tasks only a relaxed store per message).
struct Progress {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Progress {
    fn start(label: String, unit: &'static str, total: u64, done: Arc<AtomicU64>) -> Progress {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let tty = std::io::stderr().is_terminal();
            let tick = Duration::from_millis(500);
            let start = Instant::now();
            let (mut last_done, mut last_time) = (0, start);
            let mut ticks = 0u64;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                ticks += 1;
                let now = Instant::now();
                let done = done.load(Ordering::Relaxed);
                let rate = (done - last_done) as f64 / (now - last_time).as_secs_f64();
                (last_done, last_time) = (done, now);
                let line = format!(
                    "{label}: {done}/{total} {unit} ({:.0}%), {} {unit}/s now, {:.1} s",
                    done as f64 * 100.0 / total as f64,
                    si(rate),
                    (now - start).as_secs_f64(),
                );
                let mut err = std::io::stderr().lock();
                if tty {
                    let _ = write!(err, "\r{line}\x1b[K");
                } else if ticks % 2 == 0 {
                    let _ = writeln!(err, "{line}");
                }
                let _ = err.flush();
            }
            if tty {
                let _ = write!(std::io::stderr(), "\r\x1b[K");
            }
        });
        Progress { stop, thread }
    }

    fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

// --------------------------------------------------------------- tests ---

type Fallible<T> = Result<T, String>;

fn err(what: &str) -> impl Fn(zmq_tokio::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// A socket that binds `endpoint` (returning the endpoint bound) or
/// connects to it.
fn open(ctx: &Context, kind: SocketType, bind: bool, endpoint: &str) -> Fallible<(Socket, String)> {
    let socket = ctx.socket(kind).map_err(err("create a socket"))?;
    if bind {
        let bound = socket.bind(endpoint).map_err(err("bind"))?;
        Ok((socket, bound))
    } else {
        socket.connect(endpoint).map_err(err("connect"))?;
        Ok((socket, endpoint.to_owned()))
    }
}

fn check_size(msg: &zmq_tokio::Multipart, size: usize) -> Fallible<()> {
    match msg.first() {
        Some(frame) if msg.len() == 1 && frame.len() == size => Ok(()),
        _ => Err(format!(
            "received a message of {} frame(s), {} bytes, where {size} bytes in one frame were \
             expected: do both sides use the same --size?",
            msg.len(),
            msg.iter().map(|f| f.len()).sum::<usize>()
        )),
    }
}

/// What one run measured (or, for the side that does not measure, did).
#[derive(Debug, Default)]
struct Outcome {
    mode: &'static str,
    /// `None` on the side that does not measure.
    measured: Option<Measured>,
    note: String,
    endpoint: String,
}

#[derive(Debug, Default)]
struct Measured {
    /// Messages (thr) or round trips (lat) timed.
    count: u64,
    elapsed: Duration,
    /// Round trips, in nanoseconds, sorted (lat only).
    latencies: Vec<u64>,
}

async fn thr_send(
    push: Arc<Socket>,
    payload: Bytes,
    count: u64,
    done: Arc<AtomicU64>,
) -> Fallible<Duration> {
    let start = Instant::now();
    for i in 0..count {
        // Zero-copy above Message::COPY_THRESHOLD, copied below.
        push.send(Message::from(payload.clone()))
            .await
            .map_err(err("send"))?;
        done.store(i + 1, Ordering::Relaxed);
    }
    Ok(start.elapsed())
}

/// Receives `count` messages; times those after the first.
async fn thr_recv(
    pull: Socket,
    size: usize,
    count: u64,
    done: Arc<AtomicU64>,
) -> Fallible<Measured> {
    let first = pull.recv().await.map_err(err("recv"))?;
    check_size(&first, size)?;
    done.store(1, Ordering::Relaxed);
    let start = Instant::now();
    for i in 1..count {
        let msg = match tokio::time::timeout(IDLE_LIMIT, pull.recv()).await {
            Ok(msg) => msg.map_err(err("recv"))?,
            Err(_) => {
                return Err(format!(
                    "gave up after {i} of {count} messages: none came for {} s. Did the sender \
                     stop early or use another --count? (Over ipc, libzmq can drop the last \
                     messages of a connecting socket that closes right after sending them.)",
                    IDLE_LIMIT.as_secs()
                ))
            }
        };
        check_size(&msg, size)?;
        done.store(i + 1, Ordering::Relaxed);
    }
    Ok(Measured {
        count: count - 1,
        elapsed: start.elapsed(),
        latencies: Vec::new(),
    })
}

/// Echoes `count` round trips, and the untimed one before them.
async fn lat_echo(rep: Socket, count: u64, done: Arc<AtomicU64>) -> Fallible<()> {
    for i in 0..=count {
        let msg = rep.recv().await.map_err(err("recv"))?;
        rep.send(msg).await.map_err(err("send"))?;
        done.store(i, Ordering::Relaxed);
    }
    Ok(())
}

/// One untimed round trip, then `count` timed ones.
async fn lat_client(
    req: Socket,
    payload: Bytes,
    count: u64,
    done: Arc<AtomicU64>,
) -> Fallible<Measured> {
    let size = payload.len();
    req.send(Message::from(payload.clone()))
        .await
        .map_err(err("send"))?;
    check_size(&req.recv().await.map_err(err("recv"))?, size)?;
    let mut latencies = Vec::with_capacity(count as usize);
    let start = Instant::now();
    for i in 0..count {
        let sent = Instant::now();
        req.send(Message::from(payload.clone()))
            .await
            .map_err(err("send"))?;
        let reply = req.recv().await.map_err(err("recv"))?;
        latencies.push(sent.elapsed().as_nanos() as u64);
        check_size(&reply, size)?;
        done.store(i + 1, Ordering::Relaxed);
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    Ok(Measured {
        count,
        elapsed,
        latencies,
    })
}

fn joined<T>(result: Result<Fallible<T>, tokio::task::JoinError>) -> Fallible<T> {
    result.map_err(|e| format!("a task failed: {e}"))?
}

/// Runs one test (one side of it, or both) in `rt`; returns what it measured.
fn run(rt: &tokio::runtime::Runtime, opts: &Options, mode: Mode) -> Fallible<Outcome> {
    let count = opts.count(mode);
    let payload = Bytes::from(vec![0x5a; opts.size]);
    let endpoint = opts.endpoint(mode);
    let done = Arc::new(AtomicU64::new(0));
    // A context per test: dropped below, outside the runtime, so that its
    // termination waits (in place) until every socket is closed and every
    // message sent has gone.
    let ctx = Context::new();
    let size_text = bytes_text(opts.size);
    let label = format!("{} {} {size_text}", mode.name(), opts.transport);

    let outcome = rt.block_on(async {
        let mut outcome = Outcome {
            mode: mode.name(),
            ..Outcome::default()
        };
        match (mode, opts.role) {
            (Mode::Thr, Role::Both) => {
                let (pull, bound) = open(&ctx, SocketType::Pull, true, &endpoint)?;
                let (push, _) = open(&ctx, SocketType::Push, false, &bound)?;
                outcome.endpoint = bound;
                let progress = Progress::start(label, "msgs", count, done.clone());
                // The sender's socket stays open until the receiver has
                // everything: the test measures messages, not a close.
                let push = Arc::new(push);
                let sender = tokio::spawn(thr_send(
                    push.clone(),
                    payload,
                    count,
                    Arc::new(AtomicU64::new(0)),
                ));
                let receiver = tokio::spawn(thr_recv(pull, opts.size, count, done));
                let received = joined(receiver.await);
                progress.finish();
                joined(sender.await)?;
                drop(push);
                outcome.measured = Some(received?);
            }
            (Mode::Thr, Role::Bind) => {
                let (pull, bound) = open(&ctx, SocketType::Pull, true, &endpoint)?;
                eprintln!("thr receiver (measures): bound {bound}, {count} msgs of {size_text}");
                eprintln!("{}", start_hint(mode, &bound, opts.size, count));
                outcome.endpoint = bound;
                let progress = Progress::start(label, "msgs", count, done.clone());
                let received = joined(tokio::spawn(thr_recv(pull, opts.size, count, done)).await);
                progress.finish();
                outcome.measured = Some(received?);
            }
            (Mode::Thr, Role::Connect) => {
                let (push, _) = open(&ctx, SocketType::Push, false, &endpoint)?;
                // Deliver everything before exiting, as remote_thr does.
                push.set(options::LINGER, -1).map_err(err("set LINGER"))?;
                eprintln!("thr sender: sending {count} messages of {size_text} to {endpoint}");
                outcome.endpoint = endpoint.clone();
                let progress = Progress::start(label, "msgs", count, done.clone());
                let sender = tokio::spawn(thr_send(Arc::new(push), payload, count, done));
                let sent = joined(sender.await);
                progress.finish();
                let sent = sent?;
                let rate = si(count as f64 / sent.as_secs_f64());
                outcome.note = format!(
                    "sender: queued {count} messages in {:.3} s ({rate} msgs/s); \
                     the receiver (--bind) measures",
                    sent.as_secs_f64(),
                );
                eprintln!("waiting for the last messages to leave (Ctrl-C to give up)...");
            }
            (Mode::Lat, Role::Both) => {
                let (rep, bound) = open(&ctx, SocketType::Rep, true, &endpoint)?;
                let (req, _) = open(&ctx, SocketType::Req, false, &bound)?;
                outcome.endpoint = bound;
                let progress = Progress::start(label, "round trips", count, done.clone());
                let echo = tokio::spawn(lat_echo(rep, count, Arc::new(AtomicU64::new(0))));
                let client = tokio::spawn(lat_client(req, payload, count, done));
                let measured = joined(client.await);
                progress.finish();
                joined(echo.await)?;
                outcome.measured = Some(measured?);
            }
            (Mode::Lat, Role::Bind) => {
                let (rep, bound) = open(&ctx, SocketType::Rep, true, &endpoint)?;
                eprintln!("lat echo server: bound {bound}, {count} round trips of {size_text}");
                eprintln!("{}", start_hint(mode, &bound, opts.size, count));
                outcome.endpoint = bound;
                let progress = Progress::start(label, "round trips", count, done.clone());
                let echoed = joined(tokio::spawn(lat_echo(rep, count, done)).await);
                progress.finish();
                echoed?;
                outcome.note = format!(
                    "echo server: echoed {count} round trips; the client (--connect) measures"
                );
            }
            (Mode::Lat, Role::Connect) => {
                let (req, _) = open(&ctx, SocketType::Req, false, &endpoint)?;
                eprintln!("lat client (measures): {count} round trips of {size_text}, {endpoint}");
                outcome.endpoint = endpoint.clone();
                let progress = Progress::start(label, "round trips", count, done.clone());
                let measured = joined(tokio::spawn(lat_client(req, payload, count, done)).await);
                progress.finish();
                outcome.measured = Some(measured?);
            }
        }
        Ok::<_, String>(outcome)
    });
    // Outside the runtime: zmq_ctx_term in place (see above).
    drop(ctx);
    // The ipc socket file this process bound, if libzmq left it behind.
    if opts.role != Role::Connect {
        if let Some(path) = endpoint.strip_prefix("ipc://") {
            if !path.starts_with('@') && !path.contains('*') {
                let _ = std::fs::remove_file(path);
            }
        }
    }
    outcome
}

/// The command line for the other side.
fn start_hint(mode: Mode, bound: &str, size: usize, count: u64) -> String {
    let (side, measures) = match mode {
        Mode::Thr => ("sender", ""),
        Mode::Lat => ("client", " (it measures)"),
    };
    format!(
        "start the {side}{measures} with: perf {} --connect --endpoint {} --size {size} --count {count}",
        mode.name(),
        peer_endpoint(bound)
    )
}

/// What the other side should connect to: a tcp endpoint bound on a
/// wildcard address gets a placeholder for this host's name.
fn peer_endpoint(bound: &str) -> String {
    match bound.strip_prefix("tcp://") {
        Some(address) => match address.rsplit_once(':') {
            Some((host, port)) if host == "0.0.0.0" || host == "[::]" || host == "*" => {
                format!("tcp://<this host>:{port}")
            }
            _ => bound.to_owned(),
        },
        None => bound.to_owned(),
    }
}

// -------------------------------------------------------------- output ---

/// 1234567.0 -> "1.23 M"
fn si(value: f64) -> String {
    if !value.is_finite() {
        return "-".to_owned();
    }
    for (scale, prefix) in [(1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if value >= scale {
            return format!("{:.2} {prefix}", value / scale);
        }
    }
    format!("{value:.0}")
}

fn bytes_text(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

fn duration_text(ns: f64) -> String {
    match ns {
        ns if ns >= 1e9 => format!("{:.2} s", ns / 1e9),
        ns if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.1} µs", ns / 1e3),
        ns => format!("{ns:.0} ns"),
    }
}

/// The value at `percent` of sorted `values` (nearest rank).
fn percentile(values: &[u64], percent: f64) -> u64 {
    let rank = ((percent / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

fn print_table(opts: &Options, outcomes: &[Outcome]) {
    let (major, minor, patch) = zmq_tokio::version();
    println!();
    println!(
        "zmq-tokio perf: libzmq {major}.{minor}.{patch}, Tokio multi-thread runtime, {} worker(s), {}",
        opts.workers,
        match opts.role {
            Role::Both => "both sides in this process",
            Role::Bind => "this process binds",
            Role::Connect => "this process connects",
        }
    );
    let header = [
        "test", "endpoint", "size", "count", "time", "msgs/s", "MB/s", "mean", "p50", "p99", "max",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut notes = Vec::new();
    for outcome in outcomes {
        let Some(m) = &outcome.measured else {
            notes.push(outcome.note.clone());
            continue;
        };
        let secs = m.elapsed.as_secs_f64();
        let rate = m.count as f64 / secs;
        let mut row = vec![
            outcome.mode.to_owned(),
            outcome.endpoint.clone(),
            bytes_text(opts.size),
            m.count.to_string(),
            format!("{secs:.3} s"),
            format!("{rate:.0}"),
            format!("{:.1}", rate * opts.size as f64 / 1e6),
        ];
        if m.latencies.is_empty() {
            row.extend(["-", "-", "-", "-"].map(str::to_owned));
        } else {
            let mean = m.latencies.iter().sum::<u64>() as f64 / m.latencies.len() as f64;
            row.push(duration_text(mean));
            for p in [50.0, 99.0, 100.0] {
                row.push(duration_text(percentile(&m.latencies, p) as f64));
            }
        }
        rows.push(row);
    }
    if !rows.is_empty() {
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([header[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<String>| {
            let mut text = String::new();
            for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
                // Text left, numbers right.
                let pad = width - cell.chars().count();
                if i < 3 {
                    text.push_str(cell);
                    text.push_str(&" ".repeat(pad));
                } else {
                    text.push_str(&" ".repeat(pad));
                    text.push_str(cell);
                }
                text.push_str("  ");
            }
            println!("{}", text.trim_end());
        };
        println!();
        line(header.iter().map(|h| h.to_string()).collect());
        line(widths.iter().map(|w| "-".repeat(*w)).collect());
        for row in rows {
            line(row);
        }
        println!();
        if outcomes
            .iter()
            .any(|o| o.mode == "thr" && o.measured.is_some())
        {
            println!("thr: messages after the first, timed at the receiver");
            println!("     MB/s = msgs/s x size (1 MB = 10^6 B)");
        }
        if outcomes
            .iter()
            .any(|o| o.mode == "lat" && o.measured.is_some())
        {
            println!("lat: msgs/s = round trips/s, one at a time; MB/s each way");
            println!("     mean/p50/p99/max of whole round trips");
        }
    }
    for note in notes {
        println!("{note}");
    }
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(opts)) => opts,
        Err(message) => {
            eprintln!("perf: error: {message}\n\nRun with --help for usage.");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("perf: error: cannot start the Tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut outcomes = Vec::new();
    for &mode in &opts.modes {
        match run(&rt, &opts, mode) {
            Ok(outcome) => outcomes.push(outcome),
            Err(message) => {
                eprintln!("perf: {} failed: {message}", mode.name());
                print_table(&opts, &outcomes);
                return ExitCode::FAILURE;
            }
        }
    }
    print_table(&opts, &outcomes);
    ExitCode::SUCCESS
}
