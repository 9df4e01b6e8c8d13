//! Tokio's cooperative budget, spent by the work an operation did.
//!
//! Tokio gives a task 128 units of budget each time it is polled, and its own
//! resources spend one per operation: a `TcpStream` read, an `mpsc`
//! receive. When the budget runs out, the next operation returns `Pending`
//! and the task yields, so that a task that always finds work ready cannot
//! starve the others on its worker.
//!
//! A libzmq message is a small fraction of such an operation: libzmq's I/O
//! thread reads and decodes the network in batches, and a receive takes a
//! message from an in-memory pipe (tokio's own `FramedRead` spends nothing
//! per frame, only per read). A unit per message made a task that streams
//! 16 B messages yield every 128 of them, and each yield parks the worker
//! for an `epoll_wait` and hands the other ready task to the other worker:
//! that cost 10–20% of the throughput at 16 B (`benches/README.md` has the
//! measurements).
//!
//! So a successful operation owes an eighth of a unit, plus an eighth per
//! [`BYTES_PER_EIGHTH`] bytes it moved, at most a whole unit. The debt is
//! kept per thread and paid a whole unit at a time, before an attempt, from
//! the budget of the task that makes it. A task that always finds messages
//! ready still yields: after about 1,024 small messages (128 units of
//! eighths), or 128 messages of 14 KiB or more, as with a unit each.

use std::cell::Cell;
use std::task::{Context, Poll};

use tokio::task::coop::{self, RestoreOnPending};

/// Eighths in a unit of Tokio's budget.
const UNIT: u32 = 8;

/// An operation owes one more eighth of a unit per this many bytes.
const BYTES_PER_EIGHTH: usize = 2048;

thread_local! {
    /// Eighths of a unit this thread's operations owe and have not paid.
    static OWED: Cell<u32> = const { Cell::new(0) };
}

/// What an attempt holds of the budget: a unit taken from the task's
/// budget when the thread owed one, or nothing. Dropped without
/// [`made_progress`](Budget::made_progress) (the attempt moved nothing), it
/// gives the unit back.
pub(crate) struct Budget(Option<RestoreOnPending>);

/// Before an attempt: ready at once while the thread owes less than a unit;
/// otherwise takes one from the task's budget, or yields (`Pending`, with
/// the task woken to run again) when the budget is spent.
#[inline(always)]
pub(crate) fn poll_budget(cx: &mut Context<'_>) -> Poll<Budget> {
    if OWED.get() < UNIT {
        return Poll::Ready(Budget(None));
    }
    poll_unit(cx)
}

/// Takes a unit from the task's budget (an eighth of the calls): kept out
/// of line, so that the test above stays small enough to inline.
#[inline(never)]
fn poll_unit(cx: &mut Context<'_>) -> Poll<Budget> {
    coop::poll_proceed(cx).map(|unit| Budget(Some(unit)))
}

/// [`poll_budget`] as a future.
#[inline]
pub(crate) async fn budget() -> Budget {
    std::future::poll_fn(poll_budget).await
}

impl Budget {
    /// The attempt moved a message of `bytes`: it owes its share, and the
    /// unit taken (if any) pays a unit of the thread's debt.
    #[inline]
    pub(crate) fn made_progress(self, bytes: usize) {
        let mut owed = OWED.get() + cost(bytes);
        if let Some(unit) = self.0 {
            unit.made_progress();
            owed -= UNIT;
        }
        OWED.set(owed);
    }
}

/// Eighths of a unit that moving a message of `bytes` owes: one, plus one
/// per [`BYTES_PER_EIGHTH`], at most a unit.
#[inline]
fn cost(bytes: usize) -> u32 {
    // At most UNIT - 1, so the cast cannot truncate.
    1 + (bytes / BYTES_PER_EIGHTH).min(UNIT as usize - 1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_messages_owe_an_eighth_and_large_ones_a_unit() {
        assert_eq!(cost(0), 1);
        assert_eq!(cost(16), 1);
        assert_eq!(cost(BYTES_PER_EIGHTH - 1), 1);
        assert_eq!(cost(BYTES_PER_EIGHTH), 2);
        assert_eq!(cost(7 * BYTES_PER_EIGHTH), UNIT);
        assert_eq!(cost(usize::MAX), UNIT);
    }

    /// Messages of `bytes` moved, starting with `owed` eighths owed on
    /// the thread, before `poll_budget` yields in a task's first poll;
    /// `before` runs first in that poll.
    fn moved_before_yield(owed: u32, bytes: usize, before: fn(&mut Context<'_>)) -> u32 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            OWED.set(owed);
            let mut moved = 0;
            // poll_budget returns Pending (and wakes the task) when the
            // budget is spent; count the attempts until then.
            std::future::poll_fn(|cx| {
                before(cx);
                loop {
                    match poll_budget(cx) {
                        Poll::Ready(budget) => {
                            budget.made_progress(bytes);
                            moved += 1;
                        }
                        Poll::Pending => return Poll::Ready(()),
                    }
                }
            })
            .await;
            moved
        })
    }

    /// A task that always finds messages ready yields after 128 units'
    /// worth, plus what the thread may owe before it pays its first unit:
    /// 8 + 128 * 8 messages of 16 B, 1 + 128 of 64 KiB.
    #[test]
    fn a_task_that_never_waits_still_yields() {
        for (bytes, expected) in [(16, 8 + 128 * 8), (65536, 1 + 128)] {
            let moved = moved_before_yield(0, bytes, |_| {});
            assert_eq!(moved, expected, "messages of {bytes} B before a yield");
        }
    }

    #[test]
    fn an_attempt_that_moves_nothing_gives_its_unit_back() {
        let moved = moved_before_yield(UNIT, 65536, |cx| {
            // A unit taken and given back, many times over: no yield.
            for _ in 0..1000 {
                let Poll::Ready(budget) = poll_budget(cx) else {
                    panic!("yielded although nothing was spent");
                };
                drop(budget);
            }
        });
        assert_eq!(moved, 128);
    }
}
