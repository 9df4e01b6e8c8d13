//! Where zero-copy starts to pay: the cost of one frame built from `Bytes`,
//! sent over inproc and received, copied (`Message::copy_from_slice`)
//! against handed to libzmq (`Message::from_bytes_no_copy`), at several
//! sizes; and the cost of turning a received frame into `Bytes` by copy
//! against `Bytes::from_owner`.
//!
//! Run with `cargo bench --bench message`. `Message::COPY_THRESHOLD` is set
//! from what this shows (the table is in benches/README.md).

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zmq_tokio::{options, Context, Message, Socket, SocketType};

const SIZES: [usize; 7] = [64, 256, 1024, 4096, 16 * 1024, 64 * 1024, 256 * 1024];

/// A current-thread runtime and a PUSH/PULL pair over inproc, with no
/// high-water marks, made inside it (sockets register with its reactor).
fn pair(name: &str) -> (tokio::runtime::Runtime, Socket, Socket) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let guard = rt.enter();
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    push.set(options::SNDHWM, 0).unwrap();
    pull.set(options::RCVHWM, 0).unwrap();
    pull.bind(&format!("inproc://{name}")).unwrap();
    push.connect(&format!("inproc://{name}")).unwrap();
    drop(guard);
    (rt, push, pull)
}

fn send_copy_vs_no_copy(c: &mut Criterion) {
    let (_rt, push, pull) = pair("send");
    let mut group = c.benchmark_group("send_from_bytes");
    for size in SIZES {
        let payload = Bytes::from(vec![7u8; size]);
        group.throughput(Throughput::Bytes(size as u64));
        for (mode, no_copy) in [("copy", false), ("zero_copy", true)] {
            group.bench_with_input(BenchmarkId::new(mode, size), &payload, |b, payload| {
                b.iter(|| {
                    let frame = if no_copy {
                        Message::from_bytes_no_copy(payload.clone())
                    } else {
                        Message::copy_from_slice(payload)
                    };
                    push.try_send(frame).unwrap();
                    black_box(pull.try_recv().unwrap().unwrap());
                })
            });
        }
    }
    group.finish();
}

fn recv_into_bytes(c: &mut Criterion) {
    let (_rt, push, pull) = pair("recv");
    let mut group = c.benchmark_group("received_frame_to_bytes");
    for size in SIZES {
        let payload = vec![7u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        for (mode, copy) in [("copy", true), ("from_owner", false)] {
            group.bench_with_input(BenchmarkId::new(mode, size), &payload, |b, payload| {
                b.iter(|| {
                    push.try_send(Message::copy_from_slice(payload)).unwrap();
                    let mut msg = pull.try_recv().unwrap().unwrap();
                    let frame = msg.pop_front().unwrap();
                    let bytes = if copy {
                        Bytes::copy_from_slice(&frame)
                    } else {
                        Bytes::from_owner(frame)
                    };
                    black_box(bytes);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, send_copy_vs_no_copy, recv_into_bytes);
criterion_main!(benches);
