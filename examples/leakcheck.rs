//! A scenario for a memory checker: zero-copy frames, a proxy with a
//! capture callback and a capture socket, a monitor, cancelled sends and
//! receives, and a context terminated with sockets still open. It checks
//! nothing itself; `.ci/run` runs it under valgrind's memcheck:
//!
//! ```text
//! cargo build --example leakcheck
//! valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
//!     --error-exitcode=99 --suppressions=.ci/valgrind.supp \
//!     target/debug/examples/leakcheck
//! ```

use std::time::Duration;

use bytes::Bytes;
use zmq_tokio::{proxy, Context, EventMask, Message, Multipart, SocketType};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> zmq_tokio::Result<()> {
    let ctx = Context::new();

    // Zero-copy frames both ways, over tcp on 127.0.0.1.
    let pull = ctx.socket(SocketType::Pull)?;
    let endpoint = pull.bind("tcp://127.0.0.1:*")?;
    let mut monitor = pull.monitor(EventMask::ALL)?;
    let push = ctx.socket(SocketType::Push)?;
    push.connect(&endpoint)?;
    for i in 0..20usize {
        let big = Bytes::from(vec![i as u8; 64 * 1024]);
        let msg = Multipart::from(vec![
            Message::from_bytes_no_copy(big.clone()),
            Message::from(big),
            Message::from("small"),
        ]);
        push.send(msg).await?;
        let got = pull.recv().await?;
        let frames: Vec<Bytes> = got.into_iter().map(Message::into_bytes).collect();
        assert_eq!(frames.len(), 3);
    }
    // Some monitor events, then the monitor is dropped with events unread.
    let _ = tokio::time::timeout(Duration::from_millis(200), monitor.next_event()).await;
    drop(monitor);

    // Cancelled operations: a receive with nothing to get, a send that
    // cannot go (no peer), each cancelled by a timeout.
    let lonely = ctx.socket(SocketType::Dealer)?;
    let _ = tokio::time::timeout(Duration::from_millis(20), lonely.recv()).await;
    let _ = tokio::time::timeout(
        Duration::from_millis(20),
        lonely.send(Bytes::from(vec![7u8; 100_000])),
    )
    .await;

    // A proxy with a capture callback and a capture socket.
    let frontend = ctx.socket(SocketType::Pull)?;
    frontend.bind("inproc://front")?;
    let backend = ctx.socket(SocketType::Push)?;
    backend.bind("inproc://back")?;
    let capture = ctx.socket(SocketType::Push)?;
    capture.bind("inproc://capture")?;
    let tap = ctx.socket(SocketType::Pull)?;
    tap.connect("inproc://capture")?;
    let producer = ctx.socket(SocketType::Push)?;
    producer.connect("inproc://front")?;
    let worker = ctx.socket(SocketType::Pull)?;
    worker.connect("inproc://back")?;
    let running = proxy(frontend, backend)
        .capture(|_, msg| assert!(!msg.is_empty()))
        .capture_socket(capture);
    let control = running.control();
    let task = tokio::spawn(running.run());
    for i in 0..50u32 {
        producer
            .send(vec![
                Bytes::from(vec![1u8; 2048]),
                Bytes::from(i.to_string()),
            ])
            .await?;
        worker.recv().await?;
        tap.recv().await?;
    }
    control.terminate();
    task.await.expect("proxy task")?;

    // Terminate with sockets still open and a message queued for nobody.
    lonely.try_send("queued").ok();
    ctx.terminate().await?;
    println!("leakcheck scenario done");
    Ok(())
}
