//! The one try-then-wait loop: every operation that may wait (`send`,
//! `recv`, `recv_into`, `readable`, `writable`, `Stream`, `Sink`) is an
//! attempt that either finishes or says what to wait for, driven by
//! [`poll_op`]. The proxy, which waits on two sockets at once, makes the
//! same attempts and waits through the same [`Core::wait`].
//!
//! The rules the waits follow, and why they lose no wakeup, are at the top
//! of `core.rs`.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::time::Instant;
use tokio_util::sync::ReusableBoxFuture;

use super::core::{Core, Want};
use crate::budget::poll_budget;
use crate::raw::Stamp;
use crate::{Error, Result};

/// What one non-blocking attempt did.
pub(crate) enum Attempt<T> {
    /// It finished with `value`, having moved `bytes` (for the budget).
    Done { value: T, bytes: usize },
    /// It would block; the stamp its release left, if a waiter may use
    /// it.
    WouldBlock(Option<Stamp>),
}

impl Core {
    /// Waits until `want` may be possible: `ZMQ_EVENTS` showed its bit, or
    /// another task saw it and woke this one (rules 3 to 5 of `core.rs`).
    /// `since` is the stamp a failed attempt left, if the wait follows one:
    /// when nobody has used the socket since, the first `ZMQ_EVENTS` read
    /// is skipped.
    ///
    /// Cancel safe: it takes nothing from the socket.
    pub(crate) async fn wait(&self, want: Want, since: Option<Stamp>) -> Result<()> {
        // Rule 3: created and enabled before the count is visible to anyone
        // who might notify.
        let notified = pin!(self.notify_of(want).notified());
        let mut notified = notified;
        notified.as_mut().enable();
        let _count = self.count_waiter(want);

        let Some(fd) = self.fd() else {
            return Err(self.closed_error());
        };
        // Rule 4: after the count's sequentially consistent RMW, a
        // sequentially consistent load of the lock word.
        let skip = since.is_some_and(|stamp| self.unchanged_since(stamp));
        if !skip && self.has(want)? {
            return Ok(());
        }
        loop {
            tokio::select! {
                biased;
                () = self.closed_token().cancelled() => return Err(self.closed_error()),
                () = notified.as_mut() => return Ok(()),
                guard = fd.readable() => {
                    let mut guard = guard?;
                    let ready = self.has(want)?;
                    // Rule 5: always clear. The read drained the mailbox, so
                    // any later change comes with a new edge, and the read's
                    // release woke every other waiter whose bit is set. An
                    // edge that came after the guard was taken survives.
                    guard.clear_ready();
                    if ready {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Reads `ZMQ_EVENTS` as a waiter in `want` (its release wakes the
    /// others, not the caller) and says whether `want`'s bit is set.
    fn has(&self, want: Want) -> Result<bool> {
        let events = self
            .lock(Some(want))
            .events()
            .map_err(|e| self.terminal(e))?;
        Ok(events & want.bit() != 0)
    }

    /// [`wait`](Core::wait), failing with [`Error::Timeout`] at `deadline`.
    /// A deadline already past still lets the wait look once.
    pub(crate) async fn wait_until(
        &self,
        want: Want,
        deadline: Option<Instant>,
        since: Option<Stamp>,
    ) -> Result<()> {
        match deadline {
            None => self.wait(want, since).await,
            Some(deadline) => match tokio::time::timeout_at(deadline, self.wait(want, since)).await
            {
                Ok(result) => result,
                Err(_) => Err(Error::Timeout),
            },
        }
    }

    /// Runs `attempt` until it is done, waiting in `want` whenever it
    /// would block: the loop of [`poll_op`] for an async method, with its
    /// pending wait kept in the method's own future (no allocation).
    ///
    /// `attempt` is given whether a wait came just before it.
    pub(crate) async fn run<T>(
        &self,
        want: Want,
        attempt: impl FnMut(&Core, bool) -> Result<Attempt<T>>,
    ) -> Result<T> {
        self.run_with(want, attempt, |want, deadline, since| {
            self.wait_until(want, deadline, since)
        })
        .await
    }

    async fn run_with<T, F: Future<Output = Result<()>>>(
        &self,
        want: Want,
        mut attempt: impl FnMut(&Core, bool) -> Result<Attempt<T>>,
        start: impl Fn(Want, Option<Instant>, Option<Stamp>) -> F,
    ) -> Result<T> {
        let mut pending = pin!(None::<F>);
        let mut op = Op::new(want);
        poll_fn(|cx| {
            let mut slot = InlineWait {
                pending: pending.as_mut(),
                start: &start,
            };
            poll_op(cx, self, &mut op, &mut slot, &mut attempt)
        })
        .await
    }
}

/// One operation's progress through the loop: its deadline, set when it
/// first waits, and whether its last attempt followed a wait.
#[derive(Debug)]
pub(crate) struct Op {
    want: Want,
    deadline: Option<Option<Instant>>,
    waited: bool,
}

impl Op {
    pub(crate) fn new(want: Want) -> Op {
        Op {
            want,
            deadline: None,
            waited: false,
        }
    }

    /// Ready for the next operation.
    fn finish(&mut self) {
        self.deadline = None;
        self.waited = false;
    }
}

/// Where an operation's pending wait is kept.
pub(crate) trait PendingWait {
    /// Starts waiting in `want` after an attempt that left `since`.
    fn start(&mut self, want: Want, deadline: Option<Instant>, since: Option<Stamp>);
    /// Polls the pending wait; `Ready(Ok)` when none is pending. A wait
    /// that ends is no longer pending.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>>;
}

/// The try-then-wait loop: attempt; when it would block, wait, then attempt
/// again. Spends the budget only on success (`budget.rs`).
pub(crate) fn poll_op<T>(
    cx: &mut Context<'_>,
    core: &Core,
    op: &mut Op,
    wait: &mut impl PendingWait,
    attempt: &mut impl FnMut(&Core, bool) -> Result<Attempt<T>>,
) -> Poll<Result<T>> {
    loop {
        if let Err(e) = ready!(wait.poll_wait(cx)) {
            op.finish();
            return Poll::Ready(Err(e));
        }
        // Before the attempt, so that yielding cannot lose anything.
        let budget = ready!(poll_budget(cx));
        match attempt(core, op.waited) {
            Ok(Attempt::Done { value, bytes }) => {
                budget.made_progress(bytes);
                op.finish();
                return Poll::Ready(Ok(value));
            }
            Ok(Attempt::WouldBlock(since)) => {
                let deadline = *op.deadline.get_or_insert_with(|| core.deadline(op.want));
                wait.start(op.want, deadline, since);
                op.waited = true;
            }
            Err(e) => {
                op.finish();
                return Poll::Ready(Err(e));
            }
        }
    }
}

/// A pending wait kept in place, in the future of an async method.
struct InlineWait<'p, F, S> {
    pending: Pin<&'p mut Option<F>>,
    start: &'p S,
}

impl<F, S> PendingWait for InlineWait<'_, F, S>
where
    F: Future<Output = Result<()>>,
    S: Fn(Want, Option<Instant>, Option<Stamp>) -> F,
{
    fn start(&mut self, want: Want, deadline: Option<Instant>, since: Option<Stamp>) {
        self.pending.set(Some((self.start)(want, deadline, since)));
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let Some(pending) = self.pending.as_mut().as_pin_mut() else {
            return Poll::Ready(Ok(()));
        };
        let result = ready!(pending.poll(cx));
        self.pending.set(None);
        Poll::Ready(result)
    }
}

/// A pending wait kept in a box allocated once and reused, for poll-based
/// impls (`Stream`, `Sink`), whose state outlives any one poll.
pub(crate) struct BoxedWait {
    core: Arc<Core>,
    future: Option<ReusableBoxFuture<'static, Result<()>>>,
    active: bool,
}

impl BoxedWait {
    pub(crate) fn new(core: Arc<Core>) -> BoxedWait {
        BoxedWait {
            core,
            future: None,
            active: false,
        }
    }
}

impl std::fmt::Debug for BoxedWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxedWait")
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl PendingWait for BoxedWait {
    fn start(&mut self, want: Want, deadline: Option<Instant>, since: Option<Stamp>) {
        let core = Arc::clone(&self.core);
        let future = async move { core.wait_until(want, deadline, since).await };
        match &mut self.future {
            Some(boxed) => boxed.set(future),
            None => self.future = Some(ReusableBoxFuture::new(future)),
        }
        self.active = true;
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match &mut self.future {
            Some(future) if self.active => {
                let result = ready!(future.poll(cx));
                self.active = false;
                Poll::Ready(result)
            }
            _ => Poll::Ready(Ok(())),
        }
    }
}
