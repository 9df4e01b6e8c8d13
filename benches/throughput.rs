//! zmq-tokio against the synchronous `zmq` crate (rust-zmq, the same
//! vendored libzmq), with criterion: the figures of SPEC §3, one side after
//! the other.
//!
//! # Groups
//!
//! Every group has two functions, `async` (zmq-tokio) and `sync` (the `zmq`
//! crate), run back to back for each parameter: all of one side's
//! iterations, then all of the other's. Load that comes and goes on the
//! machine between the two skews their ratio (by up to ±30% on a shared
//! 2-core machine); `benches/ratio.rs` alternates the two sides round by
//! round and reports the median ratio, which is how SPEC §3's figures are
//! measured. This bench gives criterion's statistics and history per side.
//!
//! - `push_pull_tcp/{async,sync}/{16,1024,65536}`: PUSH/PULL throughput over
//!   loopback tcp at 16 B, 1 KiB and 64 KiB. One iteration moves N messages
//!   (the group's `Throughput::Elements(N)`, so criterion prints msgs/s):
//!   the time runs from telling both sides to go until the receiver has all
//!   N. Both sides copy the payload from a `&[u8]` into each message.
//! - `push_pull_inproc/...`: the same over `inproc://`.
//! - `push_pull_64k_from_bytes/{async,sync}/{tcp,inproc}`: 64 KiB frames from
//!   a `Bytes`: zmq-tokio hands the buffer to libzmq without copying
//!   (`Message::from(Bytes)`), the `zmq` crate copies `&bytes[..]` into each
//!   message, as it must.
//! - `req_rep_tcp/{async,sync}/16`: REQ/REP round trips of 16 B over loopback
//!   tcp. Here one criterion iteration is one round trip, so the reported time
//!   is the mean round trip.
//! - `proxy/{async,sync}/{tcp,inproc}_16`: PUSH -> (PULL | proxy | PUSH) -> PULL
//!   at 16 B, batches of N as above: `zmq_tokio::proxy` (at
//!   `zmq_tokio::DEFAULT_BURST`; `benches/ratio.rs` sweeps other bursts)
//!   against libzmq's `zmq_proxy` on a third thread (the async proxy is a
//!   task of the 2-worker runtime, beside the two peers). `zmq_proxy`
//!   stops only with its context, so its thread is left idle in `zmq_poll`
//!   until the process ends.
//!
//! Sides (the rigs of `benches/rig/mod.rs`, shared with `benches/ratio.rs`):
//! `sync` runs each socket on an OS thread of its own; `async` runs each
//! socket in a task of its own on a multi-thread Tokio runtime with two
//! workers. Each side has its own libzmq context with one I/O thread. The
//! receiving sync side reuses one `zmq::Message` (the fastest use of that
//! crate); the async side gets a fresh `Multipart` per message. Sockets are
//! set up once per benchmark (on first use) and kept for all its
//! iterations; the bench thread only starts a batch and waits for its end.
//!
//! # Running
//!
//! ```text
//! cargo bench --bench throughput                    # full run, a few minutes
//! ZMQ_TOKIO_BENCH_QUICK=1 cargo bench --bench throughput   # smoke run, < 60 s
//! cargo bench --bench throughput -- push_pull_tcp   # one group (a filter)
//! python3 benches/compare.py                        # the table of ratios
//! cargo bench --bench ratio                         # alternating: SPEC §3's figures
//! ```
//!
//! `ZMQ_TOKIO_BENCH_QUICK=1` uses small batches (N) and short warm-up and
//! measurement times, for CI: it checks that everything runs, its numbers
//! are rough. Criterion's own `--quick`, `--warm-up-time S`,
//! `--measurement-time S` and `--sample-size N` flags (after `--`) override
//! the defaults here too (10-15 samples, 1 s warm-up, 3 s measurement: sized
//! for a 2-core machine). A quick and a full run move different N per
//! iteration, so criterion's "change since the last run" lines are
//! meaningless right after switching between the two.
//!
//! # Reading the results
//!
//! Compare `async` and `sync` of the same parameter as a ratio. Criterion
//! reports time per iteration, so for throughput the figure of merit is
//! `sync_time / async_time` (= async msgs/s ÷ sync msgs/s; above 1 means
//! zmq-tokio moves more messages per second), and for latency it is
//! `async_time / sync_time` (below 1 means faster round trips).
//! `benches/compare.py` reads criterion's `estimates.json` files and prints
//! both ratios next to SPEC §3's goals. On a 2-core machine the four busy
//! threads (two sides, one libzmq I/O thread, the bench thread waking
//! them) compete for cores: expect noise of several percent within a side,
//! and more between the two sides, which run at different moments (for
//! ratios that do not depend on that, run `cargo bench --bench ratio`);
//! judge ratios, not absolute numbers. Round-trip times on a virtual machine
//! depend mostly on how fast idle vCPUs wake up, and can change severalfold
//! with the machine's load; the ratio moves much less.

mod rig;

use std::cell::OnceCell;
use std::time::Duration;

use bytes::Bytes;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use rig::{
    default_burst, push_pull_rig, quick, req_rep_rig, AsyncRig, Payload, Rig, Side, SyncRig,
    Transport,
};

const SIZES: [usize; 3] = [16, 1024, 64 * 1024];
const KIB64: usize = 64 * 1024;

/// Messages per iteration: enough for one iteration to take ~10-100 ms in a
/// full run.
fn batch(size: usize) -> u64 {
    let (small, medium, large) = if quick() {
        (5_000, 2_000, 200)
    } else {
        (100_000, 40_000, 4_000)
    };
    match size {
        0..=256 => small,
        257..=4096 => medium,
        _ => large,
    }
}

fn config() -> Criterion {
    if quick() {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500))
    } else {
        Criterion::default()
            .sample_size(15)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
    }
}

/// One benchmark: the rig is made on first use (so that filtered-out
/// benchmarks cost nothing) and kept for every iteration.
fn bench_batches(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    n: u64,
    make: impl FnOnce() -> Box<dyn Rig>,
) {
    let rig = OnceCell::new();
    let mut make = Some(make);
    group.bench_function(id, |b| {
        let rig = rig.get_or_init(|| (make.take().expect("made once"))());
        b.iter_custom(|iters| (0..iters).map(|_| rig.run(n)).sum());
    });
}

fn push_pull(c: &mut Criterion, transport: Transport) {
    let mut group = c.benchmark_group(format!("push_pull_{}", transport.name()));
    group.sampling_mode(SamplingMode::Flat);
    for size in SIZES {
        let n = batch(size);
        group.throughput(Throughput::Elements(n));
        for side in [Side::Async, Side::Sync] {
            let tag = format!("pp-{size}");
            let payload = Payload::Slice(vec![0x5a; size]);
            bench_batches(&mut group, BenchmarkId::new(side.name(), size), n, || {
                push_pull_rig(side, transport, &tag, payload)
            });
        }
    }
    group.finish();
}

fn push_pull_tcp(c: &mut Criterion) {
    push_pull(c, Transport::Tcp);
}

fn push_pull_inproc(c: &mut Criterion) {
    push_pull(c, Transport::Inproc);
}

fn push_pull_64k_from_bytes(c: &mut Criterion) {
    let mut group = c.benchmark_group("push_pull_64k_from_bytes");
    group.sampling_mode(SamplingMode::Flat);
    let n = batch(KIB64);
    group.throughput(Throughput::Elements(n));
    let payload = Bytes::from(vec![0x5a; KIB64]);
    for transport in [Transport::Tcp, Transport::Inproc] {
        for side in [Side::Async, Side::Sync] {
            let payload = Payload::Bytes(payload.clone());
            bench_batches(
                &mut group,
                BenchmarkId::new(side.name(), transport.name()),
                n,
                || push_pull_rig(side, transport, "bytes", payload),
            );
        }
    }
    group.finish();
}

fn req_rep_tcp(c: &mut Criterion) {
    let mut group = c.benchmark_group("req_rep_tcp");
    // One iteration is one round trip: the reported time is the mean.
    group.throughput(Throughput::Elements(1));
    let size = 16;
    for side in [Side::Async, Side::Sync] {
        let rig = OnceCell::<Box<dyn Rig>>::new();
        group.bench_function(BenchmarkId::new(side.name(), size), |b| {
            let rig = rig.get_or_init(|| req_rep_rig(side, size));
            b.iter_custom(|iters| rig.run(iters));
        });
    }
    group.finish();
}

fn proxy(c: &mut Criterion) {
    let mut group = c.benchmark_group("proxy");
    group.sampling_mode(SamplingMode::Flat);
    let size = 16;
    let n = batch(size);
    group.throughput(Throughput::Elements(n));
    for transport in [Transport::Tcp, Transport::Inproc] {
        for side in [Side::Async, Side::Sync] {
            let payload = Payload::Slice(vec![0x5a; size]);
            let id = BenchmarkId::new(side.name(), format!("{}_{size}", transport.name()));
            bench_batches(&mut group, id, n, || match side {
                Side::Async => Box::new(AsyncRig::proxy(transport, payload, default_burst())),
                Side::Sync => Box::new(SyncRig::proxy(transport, payload)),
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = push_pull_tcp, push_pull_inproc, push_pull_64k_from_bytes, req_rep_tcp, proxy
}
criterion_main!(benches);
