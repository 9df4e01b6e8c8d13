//! The floor of a receive in a Tokio task, for the fan-out: the `zmq`
//! crate's sockets in tasks of a 2-worker runtime, as zmq-tokio's rig runs
//! them, with none of zmq-tokio's own code.
//!
//! Each SUB tries `recv` with `DONTWAIT` into one reused `zmq::Message`
//! and, when it would block, reads `ZMQ_EVENTS` and waits on its `ZMQ_FD`
//! through `AsyncFd` until POLLIN shows. One task per socket, so there is
//! no lock, no waiter count and no cooperative budget: correct only while
//! no two tasks share a socket, which is what zmq-tokio adds. The PUB (HWM
//! 0, so its sends never block) yields every 1,024 messages, as zmq-tokio's
//! budget makes a sender that never waits yield.
//!
//! With `fresh`, each SUB receives into a new `zmq::Message` every time
//! and drops the one before (a `zmq_msg_init` and a `zmq_msg_close` per
//! message, as `recv_msg` does): the floor of an API that hands out an
//! owned message per receive, as zmq-tokio's `recv()` does.

use std::hint::black_box;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::mpsc;

use tokio::io::unix::AsyncFd;

use super::{runtime, sync_pub_sub_sockets, AsyncRig, Payload, Rig};

/// Messages a bare PUB sends between yields: what zmq-tokio's budget lets
/// a task move at 16 B before it yields (`src/budget.rs`).
const SENDS_PER_YIELD: u64 = 1024;

/// A socket's `ZMQ_FD`, owned by libzmq: registering it does not close it.
struct ZmqFd(RawFd);

impl AsRawFd for ZmqFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The fan-out's floor: a PUB task and `subscribers` SUB tasks, run and
/// timed as [`AsyncRig`]'s tasks are. The `zmq` crate's sockets keep
/// their context alive.
pub(crate) fn pub_sub(subscribers: usize, payload: Payload, fresh: bool) -> AsyncRig {
    let (_, publisher, subs) = sync_pub_sub_sockets(subscribers, "bare-pub");
    let rt = runtime();
    let (done_tx, done) = mpsc::channel();
    let mut go = Vec::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    go.push(tx);
    rt.spawn(async move {
        let data = payload.as_slice();
        while let Some(n) = rx.recv().await {
            for i in 0..n {
                publisher.send(data, 0).expect("bare send");
                if i % SENDS_PER_YIELD == SENDS_PER_YIELD - 1 {
                    tokio::task::yield_now().await;
                }
            }
        }
    });
    for sub in subs {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        go.push(tx);
        let done = done_tx.clone();
        let guard = rt.enter();
        // `new`, not `register` (which is unsafe): libzmq keeps ZMQ_FD
        // open until the socket closes, and the task drops `fd` before
        // `sub` (declared after it).
        #[allow(deprecated)]
        let fd = AsyncFd::new(ZmqFd(sub.get_fd().unwrap())).unwrap();
        drop(guard);
        rt.spawn(async move {
            let mut msg = zmq::Message::new();
            while let Some(n) = rx.recv().await {
                for _ in 0..n {
                    if fresh {
                        msg = zmq::Message::new();
                    }
                    // In the task's body, not a function taking
                    // `&sub`: a zmq::Socket is not Sync, so a borrow
                    // of it across an await would make the task !Send.
                    loop {
                        match sub.recv(&mut msg, zmq::DONTWAIT) {
                            Ok(()) => break,
                            Err(zmq::Error::EAGAIN) => {}
                            Err(e) => panic!("bare recv: {e}"),
                        }
                        // The failed call may have drained the edge the
                        // fd would show: read ZMQ_EVENTS before waiting.
                        while !sub.get_events().unwrap().contains(zmq::POLLIN) {
                            fd.readable().await.unwrap().clear_ready();
                        }
                    }
                    black_box(&msg);
                }
                done.send(()).expect("bench thread gone");
            }
        });
    }
    let rig = AsyncRig {
        go,
        done,
        measuring: subscribers,
        proxy: None,
        rt: Some(rt),
    };
    rig.run(1); // the connections are up
    rig
}
