//! The figures of SPEC §3 as ratios, measured the way SPEC §3 asks: zmq-tokio
//! and the synchronous `zmq` crate (rust-zmq, the same vendored libzmq) side
//! by side in one run, alternating, median of rounds.
//!
//! `benches/throughput.rs` (criterion) runs all of one side's iterations,
//! then all of the other's, so load that comes and goes on the machine
//! between the two skews a ratio by as much as ±30%. Here both sides' rigs
//! are built once and their batches interleave, so that both see the same
//! load.
//!
//! # What is measured
//!
//! Each figure pairs a sync rig and an async rig (`benches/rig/mod.rs`: the
//! sync side runs each socket on an OS thread, the async side each socket in
//! a task of a 2-worker Tokio runtime; both have their own libzmq context
//! with one I/O thread). For each figure:
//!
//! 1. Both rigs are built, and the batch size N is calibrated: batches of
//!    growing N run on both sides until one takes a tenth of the target
//!    batch time, then N is scaled so that a batch takes about the target
//!    (100 ms; 20 ms in a quick run) on average over the two sides. These
//!    batches warm the rigs up too.
//! 2. Two more rounds (below) warm both rigs up and are discarded.
//! 3. R rounds (40; 10 in a quick run) are measured. A round runs one batch of
//!    N on each side, one after the other, and the side going first
//!    alternates from round to round (sync, async, async, sync, ...: ABBA),
//!    so that whatever going first or second does (threads waking from a
//!    longer sleep, caches) falls on both sides alike.
//! 4. The async rig is dropped (its runtime shut down) before the next
//!    figure is built, the sync rig (its threads joined) once the figures
//!    that share it (below) are done.
//!
//! A batch of a throughput figure is N messages, timed from telling both
//! sockets to go until the receiver has all N (every receiver, for the
//! fan-out); a batch of the latency figure is N REQ/REP round trips in a
//! row. No wait is unbounded: a batch that takes longer than a minute
//! (`BATCH_LIMIT`) fails the bench. The figures:
//!
//! - `push_pull_tcp/{16,1024,65536}`, `push_pull_inproc/{16,1024}`: PUSH/PULL
//!   throughput; both sides copy the payload from a `&[u8]` into each message.
//!   The zmq-tokio receiver calls `recv()`, which hands out a new message
//!   each time; the `zmq` receiver reuses one `zmq::Message`.
//! - `push_pull_{tcp,inproc}/16/recv_into`: the same at 16 B, the zmq-tokio
//!   receiver reusing one `Multipart` through `recv_into`, like for like
//!   with the `zmq` receiver. It shares the group's sync rig and N.
//! - `push_pull_64k_from_bytes/{tcp,inproc}`: 64 KiB frames from a `Bytes`,
//!   which zmq-tokio hands to libzmq without copying (the `zmq` crate copies
//!   `&bytes[..]`).
//! - `req_rep_tcp/16/{main,spawned,current_thread}`: REQ/REP round trips
//!   of 16 B over loopback tcp, the zmq-tokio side in three shapes: the
//!   client in `Runtime::block_on` on the bench's thread (what
//!   `#[tokio::main]` does) and the REP server spawned on the 2-worker
//!   runtime; both spawned on it (the figure once named `req_rep_tcp/16`,
//!   which as a filter still selects all three); both on a current-thread
//!   runtime, the client in `block_on`. The sync side is the same two
//!   threads for all three (one rig, one N).
//! - `proxy/{tcp,inproc}_16`: PUSH -> (PULL | proxy | PUSH) -> PULL at 16 B,
//!   `zmq_tokio::proxy` (a task on the runtime, `DEFAULT_BURST`) against
//!   libzmq's `zmq_proxy` on a thread.
//! - `proxy_burst/{tcp,inproc}_16/{16,64,256,1024}`: the burst sweep, the
//!   same with `Proxy::burst` set. The proxy figures of one transport form
//!   a group that shares one `zmq_proxy` rig and one N, calibrated with the
//!   first: each async variant is alternated with that same baseline. The
//!   sweep's row at `DEFAULT_BURST` measures the
//!   same configuration as the `proxy/` row, separately: the difference
//!   between the two shows how well the run repeats.
//! - `broker/tcp_16x3`: the proxy figure with 3-frame messages (a 5-byte
//!   routing id, an empty delimiter, a 16 B body), as a ROUTER/DEALER
//!   broker forwards them, over tcp. The sync sides send frame by frame
//!   with `SNDMORE` and receive into one reused `zmq::Message`; zmq-tokio
//!   sends one `Multipart` collected from the frames and `recv()`s.
//! - `pub_sub_tcp/16x8`: one PUB to 8 SUBs over tcp, subscribed to
//!   everything, SNDHWM and RCVHWM 0: a batch is N messages published and
//!   received by all 8 SUBs (9 threads, or 9 tasks). Before the first
//!   batch the PUB repeats a welcome until every SUB has one. The
//!   zmq-tokio SUBs `recv()`; in `pub_sub_tcp/16x8/recv_into` they reuse one
//!   `Multipart`, as the sync SUBs reuse one `zmq::Message`.
//!   `pub_sub_tcp/16x8/floor` is not zmq-tokio: the `zmq` crate's sockets
//!   in tasks of the same runtime, each SUB waiting on its `ZMQ_FD` through
//!   `AsyncFd` with no lock and no budget (`benches/rig/bare.rs`): what a
//!   receive in a Tokio task costs at least, to read the two figures above
//!   against. `pub_sub_tcp/16x8/floor_fresh` is the same with a new
//!   `zmq::Message` per receive, the floor of `recv()`, which hands out a
//!   new message each time.
//! - `dealers_tcp/1000/{time,memory}`: 1,000 DEALERs on one ROUTER over
//!   tcp: the time to create and connect them and get one echo each, and
//!   the VmRSS growth per socket while all are alive; sync: one OS thread
//!   per DEALER, zmq-tokio: one task per DEALER. Not a rig: each side of a
//!   round runs in a fresh process (this binary, `--dealers-child`), 7
//!   rounds ABBA (3 in a quick run, one of 100 DEALERs in a test run), no
//!   calibration, no warm-up (`benches/dealers/mod.rs`).
//!
//! The `zmq_proxy` thread cannot be stopped (`zmq_proxy` returns only when its
//! context is terminated, which its own sockets prevent): after its figures
//! it stays idle in `zmq_poll` until the process ends.
//!
//! # Running
//!
//! ```text
//! cargo bench --bench ratio                          # full run, ~3 minutes
//! ZMQ_TOKIO_BENCH_QUICK=1 cargo bench --bench ratio  # smoke run, well under a minute
//! cargo bench --bench ratio -- push_pull_tcp proxy/  # only figures matching a filter
//! cargo bench --bench ratio -- --markdown            # the table in Markdown
//! ```
//!
//! Positional arguments are filters: a figure runs when its name (as listed
//! above) or its label in the table contains one of them (case-insensitive).
//! `--rounds R` and `--batch-ms MS` override the number of measured rounds
//! and the target batch time. Other flags are ignored (cargo passes `--bench`;
//! criterion's flags that take a value, given to every bench by a plain
//! `cargo bench -- ...`, are skipped with their value). Without `--bench`, or
//! with `--test` (as under `cargo test --benches`), every selected figure
//! runs one round of a small batch, as a check that it works, and no table
//! is printed. Progress goes to stderr, the table to stdout. A plain
//! `cargo bench` runs this bench too, at full length.
//!
//! # Reading the results
//!
//! One row per figure. `ratio` is the median over rounds of the per-round
//! ratio:
//!
//! - throughput: `sync_time / async_time` (= async msgs/s ÷ sync msgs/s):
//!   above 1, zmq-tokio moves more messages per second;
//! - latency: `async_time / sync_time` (the per-round mean round trip):
//!   below 1, zmq-tokio's round trips are faster;
//! - the DEALERs' time and memory: async / sync, below 1 zmq-tokio is
//!   faster or smaller.
//!
//! `q1..q3` are the quartiles of the per-round ratios and `min..max` their
//! range: the noise that remains. When a SPEC goal lies between the
//! quartiles, the verdict says "within spread": rerun before concluding.
//! `zmq-tokio` and `zmq (sync)` are each side's median over rounds, in
//! msgs/s (or the mean round trip in µs), to tell the figures apart: their
//! quotient need not equal `ratio`, a median of per-round quotients, and on
//! a shared 2-core machine they move with the load much more than the
//! ratios do. `N` is the batch size chosen by calibration. A quick run's
//! ratios are rough (10 short rounds); round trips on a virtual machine are
//! the noisiest figure, as they depend on how fast idle vCPUs wake up.

mod dealers;
mod rig;

use std::io::Write;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rig::{
    broker_frames, broker_rig, default_burst, pub_sub_bare_rig, pub_sub_into_rig, pub_sub_rig,
    push_pull_into_rig, push_pull_rig, quick, req_rep_rig, req_rep_shape_rig, AsyncRig, Payload,
    Rig, Shape, Side, SyncRig, Transport,
};

const KIB64: usize = 64 * 1024;

/// The proxy bursts of the sweep.
const BURSTS: [usize; 4] = [16, 64, 256, 1024];

/// Rounds run and discarded before the measured ones.
const WARM_UP_ROUNDS: usize = 2;

/// The SUBs of the fan-out figure.
const SUBSCRIBERS: usize = 8;

/// Rounds of the DEALERs figure (each side of a round is a process of its
/// own): full and quick runs.
const DEALER_ROUNDS: usize = 7;
const DEALER_ROUNDS_QUICK: usize = 3;

/// The largest batch calibration picks.
const MAX_BATCH: u64 = 10_000_000;

/// Criterion's flags that take a value: a plain `cargo bench -- FLAG VALUE`
/// passes them to this bench too, and VALUE is not a filter.
const CRITERION_VALUE_FLAGS: &[&str] = &[
    "--save-baseline",
    "-s",
    "--baseline",
    "-b",
    "--baseline-lenient",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--profile-time",
    "--format",
    "--plotting-backend",
    "--output-format",
    "--color",
    "--colour",
    "-c",
];

/// What a figure measures, and so which way its ratio goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Messages per second: ratio = sync_time / async_time.
    Throughput,
    /// Round trips: ratio = async_time / sync_time.
    Latency,
    /// The time a batch takes, shown whole: ratio = async_time / sync_time.
    Setup,
    /// KiB of RSS over a batch of N sockets, shown per socket: ratio =
    /// async / sync.
    Memory,
}

/// A goal of SPEC §3 on the median ratio.
#[derive(Debug, Clone, Copy)]
enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Goal {
    fn value(self) -> f64 {
        match self {
            Goal::AtLeast(g) | Goal::AtMost(g) => g,
        }
    }

    fn met(self, ratio: f64) -> bool {
        match self {
            Goal::AtLeast(g) => ratio >= g,
            Goal::AtMost(g) => ratio <= g,
        }
    }

    fn text(self) -> String {
        match self {
            Goal::AtLeast(g) => format!(">= {g}"),
            Goal::AtMost(g) => format!("<= {g}"),
        }
    }
}

type MakeRig = Box<dyn Fn() -> Box<dyn Rig>>;

/// One async rig measured against its group's sync rig: a row of the table.
struct Figure {
    /// The name that filters match, like criterion's `group/parameter`.
    id: String,
    /// The row's label.
    label: String,
    goal: Option<Goal>,
    /// A row of the burst sweep table rather than of the main one.
    sweep: bool,
    make: MakeRig,
}

/// Figures that share one sync rig, the baseline, built once for all of them.
struct Group {
    kind: Kind,
    /// The first batch size calibration tries (and the batch of a test run).
    first_n: u64,
    sync: MakeRig,
    figures: Vec<Figure>,
}

impl Figure {
    fn new(id: String, label: String, make: MakeRig) -> Figure {
        Figure {
            id,
            label,
            goal: None,
            sweep: false,
            make,
        }
    }

    fn matches(&self, filters: &[String]) -> bool {
        matches(&self.id, &self.label, filters)
    }
}

/// Whether a figure's name or label contains one of `filters`
/// (case-insensitive), or there are none.
fn matches(id: &str, label: &str, filters: &[String]) -> bool {
    let (id, label) = (id.to_lowercase(), label.to_lowercase());
    filters.is_empty()
        || filters.iter().any(|f| {
            let f = f.to_lowercase();
            id.contains(&f) || label.contains(&f)
        })
}

impl Group {
    /// Sets the SPEC goal of the group's first figure.
    fn goal(mut self, goal: Goal) -> Group {
        self.figures[0].goal = Some(goal);
        self
    }

    /// Adds a figure whose zmq-tokio receiver uses `recv_into` on one
    /// reused message, as the sync receiver reuses its `zmq::Message`
    /// (`recv()`, in the first figure, hands out a new message each time).
    fn with_recv_into(mut self, transport: Transport, size: usize) -> Group {
        let payload = Payload::Slice(vec![0x5a; size]);
        let tag = format!("push_pull_into_{}_{size}", transport.name());
        self.figures.push(Figure::new(
            format!("push_pull_{}/{size}/recv_into", transport.name()),
            format!("PUSH/PULL {} {size} B, recv_into", transport.name()),
            Box::new(move || push_pull_into_rig(transport, &tag, payload.clone())),
        ));
        self
    }
}

/// PUSH/PULL of `size` bytes copied from a slice.
fn push_pull(transport: Transport, size: usize) -> Group {
    let label = match size {
        16 => "16 B",
        1024 => "1 KiB",
        KIB64 => "64 KiB (copied)",
        _ => unreachable!("no label for {size} B"),
    };
    push_pull_group(
        transport,
        size,
        Payload::Slice(vec![0x5a; size]),
        format!("push_pull_{}/{size}", transport.name()),
        format!("PUSH/PULL {} {label}", transport.name()),
    )
}

/// PUSH/PULL of 64 KiB from a `Bytes` (not copied by zmq-tokio).
fn push_pull_from_bytes(transport: Transport) -> Group {
    push_pull_group(
        transport,
        KIB64,
        Payload::Bytes(Bytes::from(vec![0x5a; KIB64])),
        format!("push_pull_64k_from_bytes/{}", transport.name()),
        format!("PUSH/PULL {} 64 KiB from Bytes", transport.name()),
    )
}

/// PUSH/PULL of `payload`, `size` bytes long.
fn push_pull_group(
    transport: Transport,
    size: usize,
    payload: Payload,
    id: String,
    label: String,
) -> Group {
    let tag = id.replace('/', "-");
    let make = |side: Side| -> MakeRig {
        let (tag, payload) = (tag.clone(), payload.clone());
        Box::new(move || push_pull_rig(side, transport, &tag, payload.clone()))
    };
    Group {
        kind: Kind::Throughput,
        first_n: if size > 4096 { 100 } else { 1000 },
        sync: make(Side::Sync),
        figures: vec![Figure::new(id, label, make(Side::Async))],
    }
}

/// REQ/REP round trips of 16 B over tcp, the zmq-tokio side in each
/// [`Shape`], all against one sync rig (two threads).
fn req_rep() -> Group {
    let size = 16;
    let shape = |shape: Shape, name: &str, label: &str, goal: f64| Figure {
        goal: Some(Goal::AtMost(goal)),
        ..Figure::new(
            format!("req_rep_tcp/{size}/{name}"),
            format!("REQ/REP tcp {size} B round trip, {label}"),
            Box::new(move || req_rep_shape_rig(shape, size)),
        )
    };
    Group {
        kind: Kind::Latency,
        first_n: 100,
        sync: Box::new(move || req_rep_rig(Side::Sync, size)),
        figures: vec![
            shape(Shape::Main, "main", "client in block_on", 1.15),
            // The figure once named `req_rep_tcp/16`, SPEC §3's <= 1.1.
            shape(Shape::Spawned, "spawned", "both spawned", 1.1),
            shape(
                Shape::CurrentThread,
                "current_thread",
                "current-thread runtime",
                1.15,
            ),
        ],
    }
}

/// 3-frame messages (routing id, empty, 16 B body) through the proxy over
/// tcp, against `zmq_proxy`.
fn broker() -> Group {
    let size = 16;
    let frames = broker_frames(size);
    let make = |side: Side| -> MakeRig {
        let frames = frames.clone();
        Box::new(move || broker_rig(side, Transport::Tcp, frames.clone()))
    };
    Group {
        kind: Kind::Throughput,
        first_n: 1000,
        sync: make(Side::Sync),
        figures: vec![Figure::new(
            format!("broker/tcp_{size}x3"),
            format!("broker tcp {size} B x 3 frames vs zmq_proxy"),
            make(Side::Async),
        )],
    }
}

/// One PUB to [`SUBSCRIBERS`] SUBs over tcp, 16 B.
fn pub_sub() -> Group {
    let size = 16;
    Group {
        kind: Kind::Throughput,
        first_n: 1000,
        sync: Box::new(move || pub_sub_rig(Side::Sync, SUBSCRIBERS, size)),
        figures: vec![
            Figure::new(
                format!("pub_sub_tcp/{size}x{SUBSCRIBERS}"),
                format!("PUB to {SUBSCRIBERS} SUBs tcp {size} B"),
                Box::new(move || pub_sub_rig(Side::Async, SUBSCRIBERS, size)),
            ),
            Figure::new(
                format!("pub_sub_tcp/{size}x{SUBSCRIBERS}/recv_into"),
                format!("PUB to {SUBSCRIBERS} SUBs tcp {size} B, recv_into"),
                Box::new(move || pub_sub_into_rig(SUBSCRIBERS, size)),
            ),
            Figure::new(
                format!("pub_sub_tcp/{size}x{SUBSCRIBERS}/floor"),
                format!("PUB to {SUBSCRIBERS} SUBs, floor: zmq crate in tasks"),
                Box::new(move || pub_sub_bare_rig(SUBSCRIBERS, size, false)),
            ),
            Figure::new(
                format!("pub_sub_tcp/{size}x{SUBSCRIBERS}/floor_fresh"),
                format!("PUB to {SUBSCRIBERS} SUBs, floor, a new message each"),
                Box::new(move || pub_sub_bare_rig(SUBSCRIBERS, size, true)),
            ),
        ],
    }
}

/// The proxy at `DEFAULT_BURST`, then the burst sweep, all against one
/// `zmq_proxy` rig.
fn proxy(transport: Transport) -> Group {
    let size = 16;
    let payload = Payload::Slice(vec![0x5a; size]);
    let name = transport.name();
    let async_proxy = |burst: NonZeroUsize| -> MakeRig {
        let payload = payload.clone();
        Box::new(move || Box::new(AsyncRig::proxy(transport, payload.clone(), burst)))
    };
    let mut figures = vec![Figure::new(
        format!("proxy/{name}_{size}"),
        format!(
            "proxy {name} {size} B vs zmq_proxy (burst {}, default)",
            default_burst()
        ),
        async_proxy(default_burst()),
    )];
    for burst in BURSTS {
        let burst = NonZeroUsize::new(burst).expect("bursts are not zero");
        figures.push(Figure {
            sweep: true,
            ..Figure::new(
                format!("proxy_burst/{name}_{size}/{burst}"),
                format!("proxy {name} {size} B, burst {burst}"),
                async_proxy(burst),
            )
        });
    }
    let sync_payload = payload.clone();
    Group {
        kind: Kind::Throughput,
        first_n: 1000,
        sync: Box::new(move || Box::new(SyncRig::proxy(transport, sync_payload.clone()))),
        figures,
    }
}

/// Every figure, in the order they run.
fn plan() -> Vec<Group> {
    use Transport::{Inproc, Tcp};
    vec![
        push_pull(Tcp, 16)
            .goal(Goal::AtLeast(1.0))
            .with_recv_into(Tcp, 16),
        push_pull(Tcp, 1024).goal(Goal::AtLeast(1.0)),
        push_pull(Tcp, KIB64),
        push_pull(Inproc, 16)
            .goal(Goal::AtLeast(1.0))
            .with_recv_into(Inproc, 16),
        push_pull(Inproc, 1024),
        push_pull_from_bytes(Tcp).goal(Goal::AtLeast(1.1)),
        push_pull_from_bytes(Inproc),
        req_rep(),
        // SPEC §3's proxy goal, like benches/compare.py, on tcp.
        proxy(Tcp).goal(Goal::AtLeast(0.9)),
        proxy(Inproc),
        broker().goal(Goal::AtLeast(0.9)),
        pub_sub().goal(Goal::AtLeast(0.9)),
    ]
}

/// A row of the DEALERs figure, which is not a [`Rig`] (each side of a
/// round is a process of its own: `benches/dealers/mod.rs`). One
/// measurement gives both rows.
struct DealerFigure {
    id: String,
    label: String,
    kind: Kind,
}

fn dealer_figures() -> [DealerFigure; 2] {
    let n = dealers::COUNT;
    [
        DealerFigure {
            id: format!("dealers_tcp/{n}/time"),
            label: format!("{n} DEALERs on a ROUTER, connect + 1 round trip each"),
            kind: Kind::Setup,
        },
        DealerFigure {
            id: format!("dealers_tcp/{n}/memory"),
            label: format!("{n} DEALERs on a ROUTER, RSS per socket"),
            kind: Kind::Memory,
        },
    ]
}

// ------------------------------------------------------------- options ---

struct Options {
    filters: Vec<String>,
    markdown: bool,
    /// One small round per figure, no table: no `--bench`, or `--test`.
    test: bool,
    rounds: usize,
    batch: Duration,
}

fn usage_error(message: &str) -> ! {
    eprintln!("ratio: {message}");
    eprintln!(
        "usage: cargo bench --bench ratio -- [FILTER...] [--markdown] [--rounds R] [--batch-ms MS]"
    );
    std::process::exit(2);
}

impl Options {
    fn parse(args: impl IntoIterator<Item = String>) -> Options {
        let (mut rounds, mut batch_ms) = if quick() { (10, 20) } else { (40, 100) };
        let mut filters = Vec::new();
        let (mut markdown, mut bench, mut test) = (false, false, false);
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if arg.starts_with("--") => (flag, Some(value.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value = |name: &str| -> u64 {
                let value = inline.clone().or_else(|| args.next());
                let value = value.unwrap_or_else(|| usage_error(&format!("{name} needs a value")));
                match value.parse() {
                    Ok(v) if v > 0 => v,
                    _ => usage_error(&format!("{name} takes a positive integer, not {value:?}")),
                }
            };
            match flag {
                "--bench" => bench = true,
                "--test" => test = true,
                "--markdown" => markdown = true,
                "--rounds" => rounds = value("--rounds") as usize,
                "--batch-ms" => batch_ms = value("--batch-ms"),
                "-h" | "--help" => {
                    println!(
                        "cargo bench --bench ratio -- [FILTER...] [--markdown] [--rounds R] \
                         [--batch-ms MS]\n(see the doc comment of benches/ratio.rs)"
                    );
                    std::process::exit(0);
                }
                _ if CRITERION_VALUE_FLAGS.contains(&flag) => {
                    if inline.is_none() {
                        args.next();
                    }
                }
                _ if flag.starts_with('-') => {}
                _ => filters.push(arg),
            }
        }
        Options {
            filters,
            markdown,
            test: test || !bench,
            rounds,
            batch: Duration::from_millis(batch_ms),
        }
    }
}

// ------------------------------------------------------------- measure ---

/// A measured figure.
struct Row {
    label: String,
    goal: Option<Goal>,
    sweep: bool,
    kind: Kind,
    n: u64,
    /// Per measured round: (sync, async), seconds (KiB for `Memory`).
    rounds: Vec<(f64, f64)>,
}

/// Minimum, quartiles and maximum.
#[derive(Debug, Clone, Copy)]
struct Spread {
    min: f64,
    q1: f64,
    median: f64,
    q3: f64,
    max: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        values.sort_by(f64::total_cmp);
        // Linear interpolation between the closest ranks.
        let at = |q: f64| {
            let pos = q * (values.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
        };
        Spread {
            min: values[0],
            q1: at(0.25),
            median: at(0.5),
            q3: at(0.75),
            max: values[values.len() - 1],
        }
    }
}

impl Row {
    /// The per-round ratios, oriented as the figure's kind says.
    fn ratio(&self) -> Spread {
        Spread::of(
            self.rounds
                .iter()
                .map(|&(sync, asynch)| match self.kind {
                    Kind::Throughput => sync / asynch,
                    Kind::Latency | Kind::Setup | Kind::Memory => asynch / sync,
                })
                .collect(),
        )
    }

    /// One side's median over rounds: msgs/s, µs per round trip, ms per
    /// batch, or KiB per socket.
    fn side(&self, side: Side) -> f64 {
        let n = self.n as f64;
        Spread::of(
            self.rounds
                .iter()
                .map(|&(sync, asynch)| {
                    let t = match side {
                        Side::Sync => sync,
                        Side::Async => asynch,
                    };
                    match self.kind {
                        Kind::Throughput => n / t,
                        Kind::Latency => t * 1e6 / n,
                        Kind::Setup => t * 1e3,
                        Kind::Memory => t / n,
                    }
                })
                .collect(),
        )
        .median
    }

    fn side_text(&self, side: Side) -> String {
        let value = self.side(side);
        match self.kind {
            Kind::Throughput => format!("{}/s", human(value)),
            Kind::Latency => format!("{} µs", three_digits(value)),
            Kind::Setup => format!("{} ms", three_digits(value)),
            Kind::Memory => format!("{} KiB/socket", three_digits(value)),
        }
    }

    fn verdict(&self) -> String {
        let Some(goal) = self.goal else {
            return String::new();
        };
        let ratio = self.ratio();
        let verdict = if goal.met(ratio.median) {
            "met"
        } else {
            "missed"
        };
        if (ratio.q1..=ratio.q3).contains(&goal.value()) {
            format!("{verdict}, within spread")
        } else {
            verdict.to_owned()
        }
    }

    fn cells(&self) -> Vec<String> {
        let ratio = self.ratio();
        vec![
            self.label.clone(),
            if self.n < 1000 {
                self.n.to_string()
            } else {
                human(self.n as f64)
            },
            self.side_text(Side::Async),
            self.side_text(Side::Sync),
            format!("{:.2}", ratio.median),
            format!("{:.2}..{:.2}", ratio.q1, ratio.q3),
            format!("{:.2}..{:.2}", ratio.min, ratio.max),
            self.goal.map_or_else(|| "-".to_owned(), Goal::text),
            self.verdict(),
        ]
    }
}

/// Three significant digits.
fn three_digits(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// A count with a k or M suffix.
fn human(value: f64) -> String {
    if value >= 1e6 {
        format!("{} M", three_digits(value / 1e6))
    } else if value >= 1e3 {
        format!("{} k", three_digits(value / 1e3))
    } else {
        three_digits(value)
    }
}

/// Picks N: batches of growing N on both rigs until one takes at least a
/// tenth of `target`, then N scaled so that a batch takes about `target`
/// on average over the two sides. These batches also warm the rigs up.
fn calibrate(sync: &dyn Rig, asynch: &dyn Rig, first_n: u64, target: Duration) -> u64 {
    let mut n = first_n;
    loop {
        let t = (sync.run(n) + asynch.run(n)) / 2;
        if t >= target / 10 || n >= MAX_BATCH {
            let scaled = n as f64 * target.as_secs_f64() / t.as_secs_f64().max(1e-9);
            return (scaled.round() as u64).clamp(1, MAX_BATCH);
        }
        n = (n * 10).min(MAX_BATCH);
    }
}

/// Runs `warm_up` discarded rounds, then `rounds` measured ones, in ABBA order.
fn measure(
    sync: &dyn Rig,
    asynch: &dyn Rig,
    n: u64,
    warm_up: usize,
    rounds: usize,
) -> Vec<(f64, f64)> {
    (0..warm_up + rounds)
        .map(|round| {
            let order = if round % 2 == 0 {
                [Side::Sync, Side::Async]
            } else {
                [Side::Async, Side::Sync]
            };
            let mut times = (Duration::ZERO, Duration::ZERO);
            for side in order {
                match side {
                    Side::Sync => times.0 = sync.run(n),
                    Side::Async => times.1 = asynch.run(n),
                }
            }
            (times.0.as_secs_f64(), times.1.as_secs_f64())
        })
        .skip(warm_up)
        .collect()
}

// --------------------------------------------------------------- print ---

fn print_table(title: &str, rows: &[&Row], markdown: bool) {
    if rows.is_empty() {
        return;
    }
    let header: Vec<String> = [
        title,
        "N",
        "zmq-tokio",
        "zmq (sync)",
        "ratio",
        "q1..q3",
        "min..max",
        "goal",
        "",
    ]
    .map(str::to_owned)
    .to_vec();
    let cells: Vec<Vec<String>> = rows.iter().map(|row| row.cells()).collect();
    if markdown {
        println!("| {} |", header.join(" | "));
        println!("|{}|", vec!["---"; header.len()].join("|"));
        for row in &cells {
            println!("| {} |", row.join(" | "));
        }
    } else {
        let width = |i: usize| {
            std::iter::once(&header)
                .chain(&cells)
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..header.len()).map(width).collect();
        let line = |row: &[String]| {
            let padded: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, &w)| format!("{cell:<w$}"))
                .collect();
            println!("{}", padded.join("  ").trim_end());
        };
        line(&header);
        line(&widths.iter().map(|&w| "-".repeat(w)).collect::<Vec<_>>());
        for row in &cells {
            line(row);
        }
    }
    println!();
}

fn print_legend(options: &Options, markdown: bool) {
    let lines = [
        format!(
            "ratio: median over {} rounds of the per-round ratio; a round runs one batch of N on each \
             side, the side going first alternating (ABBA), batches of ~{} ms",
            options.rounds,
            options.batch.as_millis()
        ),
        "throughput: ratio = sync_time / async_time (= async msgs/s / sync msgs/s): above 1, \
         zmq-tokio is faster"
            .to_owned(),
        "latency: ratio = async_time / sync_time (mean round trip): below 1, zmq-tokio is faster"
            .to_owned(),
        format!(
            "DEALERs: {} rounds (ABBA), each side in a process of its own; time: async / sync to \
             connect N DEALERs and get one reply each; memory: async / sync VmRSS growth over \
             the N sockets, all alive",
            if quick() {
                DEALER_ROUNDS_QUICK
            } else {
                DEALER_ROUNDS
            }
        ),
        "zmq-tokio, zmq (sync): each side's median over rounds (msgs/s, µs per round trip, ms \
         per batch, or KiB per socket)"
            .to_owned(),
        "q1..q3: quartiles of the per-round ratios, min..max: their range; \"within spread\": \
         the goal lies between the quartiles, not a firm verdict"
            .to_owned(),
    ];
    for line in lines {
        if markdown {
            println!("- {line}");
        } else {
            println!("{line}");
        }
    }
}

// ---------------------------------------------------------------- main ---

/// The DEALERs figure's rounds, ABBA, each side in a child process; one
/// row per selected figure of `figures`.
fn measure_dealers(figures: &[DealerFigure], rounds: usize, count: usize) -> Vec<Row> {
    let samples: Vec<(dealers::Sample, dealers::Sample)> = (0..rounds)
        .map(|round| {
            if round % 2 == 0 {
                let sync = dealers::run_child("sync", count);
                (sync, dealers::run_child("async", count))
            } else {
                let asynch = dealers::run_child("async", count);
                (dealers::run_child("sync", count), asynch)
            }
        })
        .collect();
    figures
        .iter()
        .map(|figure| Row {
            label: figure.label.clone(),
            goal: Some(Goal::AtMost(1.2)),
            sweep: false,
            kind: figure.kind,
            n: count as u64,
            rounds: samples
                .iter()
                .map(|(sync, asynch)| match figure.kind {
                    Kind::Memory => (sync.rss_kib, asynch.rss_kib),
                    _ => (sync.time.as_secs_f64(), asynch.time.as_secs_f64()),
                })
                .collect(),
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(dealers::CHILD_FLAG) {
        dealers::child_main(&args[1..]);
        return;
    }
    let options = Options::parse(args);
    let dealer_figures: Vec<DealerFigure> = dealer_figures()
        .into_iter()
        .filter(|f| matches(&f.id, &f.label, &options.filters))
        .collect();
    let groups: Vec<Group> = plan()
        .into_iter()
        .filter_map(|mut group| {
            group.figures.retain(|f| f.matches(&options.filters));
            (!group.figures.is_empty()).then_some(group)
        })
        .collect();
    let total: usize = groups.iter().map(|g| g.figures.len()).sum::<usize>() + dealer_figures.len();
    if total == 0 {
        eprintln!("ratio: no figure matches {:?}", options.filters);
        return;
    }
    let (rounds, warm_up) = if options.test {
        (1, 0)
    } else {
        (options.rounds, WARM_UP_ROUNDS)
    };
    let (dealer_rounds, dealer_count) = if options.test {
        (1, dealers::TEST_COUNT)
    } else if quick() {
        (DEALER_ROUNDS_QUICK, dealers::COUNT)
    } else {
        (DEALER_ROUNDS, dealers::COUNT)
    };
    if options.test {
        eprintln!("ratio: test run (no --bench, or --test): one round of a small batch per figure");
    } else {
        let batches = (total - dealer_figures.len()) * (rounds + warm_up) * 2;
        // A DEALERs process takes about a second.
        let dealer_secs = if dealer_figures.is_empty() {
            0
        } else {
            dealer_rounds * 2
        };
        eprintln!(
            "ratio: {total} figures, {rounds} rounds of ~{} ms batches per side{}: about {:.0} s",
            options.batch.as_millis(),
            if quick() { " (quick run)" } else { "" },
            (batches as f64 * options.batch.as_secs_f64() * 1.1).ceil() + dealer_secs as f64
        );
    }
    let begin = Instant::now();
    let mut rows = Vec::new();
    let mut done = 0;
    for group in groups {
        let sync = (group.sync)();
        let mut n = None;
        for figure in &group.figures {
            done += 1;
            eprint!("[{done:>2}/{total}] {} ...", figure.id);
            let _ = std::io::stderr().flush();
            let started = Instant::now();
            let asynch = (figure.make)();
            let n = *n.get_or_insert_with(|| {
                if options.test {
                    group.first_n
                } else {
                    calibrate(&*sync, &*asynch, group.first_n, options.batch)
                }
            });
            let times = measure(&*sync, &*asynch, n, warm_up, rounds);
            drop(asynch);
            let row = Row {
                label: figure.label.clone(),
                goal: figure.goal,
                sweep: figure.sweep,
                kind: group.kind,
                n,
                rounds: times,
            };
            eprintln!(
                " N = {n}: {} {}, {} {}, ratio {:.2} ({:.1} s)",
                Side::Sync.name(),
                row.side_text(Side::Sync),
                Side::Async.name(),
                row.side_text(Side::Async),
                row.ratio().median,
                started.elapsed().as_secs_f64()
            );
            rows.push(row);
        }
        drop(sync);
    }
    if !dealer_figures.is_empty() {
        let names: Vec<&str> = dealer_figures.iter().map(|f| f.id.as_str()).collect();
        done += dealer_figures.len();
        eprint!("[{done:>2}/{total}] {} ...", names.join(", "));
        let _ = std::io::stderr().flush();
        let started = Instant::now();
        let measured = measure_dealers(&dealer_figures, dealer_rounds, dealer_count);
        let summary: Vec<String> = measured
            .iter()
            .map(|row| {
                format!(
                    "{} {}, {} {}, ratio {:.2}",
                    Side::Sync.name(),
                    row.side_text(Side::Sync),
                    Side::Async.name(),
                    row.side_text(Side::Async),
                    row.ratio().median
                )
            })
            .collect();
        eprintln!(
            " N = {dealer_count}, {dealer_rounds} rounds: {} ({:.1} s)",
            summary.join("; "),
            started.elapsed().as_secs_f64()
        );
        rows.extend(measured);
    }
    eprintln!("ratio: done in {:.1} s", begin.elapsed().as_secs_f64());
    if options.test {
        return;
    }
    println!(
        "zmq-tokio / zmq crate, {} CPUs{}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if quick() {
            ", quick run (rough numbers)"
        } else {
            ""
        }
    );
    println!();
    let main: Vec<&Row> = rows.iter().filter(|r| !r.sweep).collect();
    let sweep: Vec<&Row> = rows.iter().filter(|r| r.sweep).collect();
    print_table("figure (SPEC §3)", &main, options.markdown);
    print_table("proxy burst sweep", &sweep, options.markdown);
    print_legend(&options, options.markdown);
}
