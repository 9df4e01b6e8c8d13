//! The one try-then-wait loop: every operation that may wait (`send`,
//! `recv`, `recv_into`, `readable`, `writable`, `Stream`, `Sink`) is an
//! attempt that either finishes or says what to wait for, driven by one
//! loop: [`Core::run`] in async methods, [`poll_op`] in poll-based impls.
//! `recv` makes its first attempt in a [`TryFirst`], a generic future that
//! the compiler inlines into the awaiting task (a receive that finds a
//! message costs 40 to 60 instructions less so, by callgrind), and runs
//! the same loop from its first wait on ([`Core::run_after_wait`]). The
//! proxy, which waits on two sockets at once, makes the same attempts and
//! waits through the same [`Core::wait`].
//!
//! The rules the waits follow, and why they lose no wakeup, are at the top
//! of `core.rs`.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::time::Instant;
use tokio_util::sync::ReusableBoxFuture;

use super::core::{Core, Want};
use crate::budget::{budget, poll_budget};
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
        let mut notified = pin!(self.notify_of(want).notified());
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
    /// would block: the loop for an async method, whose wait is awaited in
    /// place (no allocation). [`poll_op`] is the same loop for poll-based
    /// impls.
    ///
    /// `attempt` is given whether a wait came just before it.
    #[inline]
    pub(crate) async fn run<T>(
        &self,
        want: Want,
        attempt: impl FnMut(&Core, bool) -> Result<Attempt<T>>,
    ) -> Result<T> {
        self.run_op(Op::new(want), attempt).await
    }

    /// [`run`](Core::run) for an operation whose first attempt would have
    /// blocked, leaving `since`: waits, then runs the loop from there.
    pub(crate) async fn run_after_wait<T>(
        &self,
        want: Want,
        since: Option<Stamp>,
        attempt: impl FnMut(&Core, bool) -> Result<Attempt<T>>,
    ) -> Result<T> {
        let mut op = Op::new(want);
        let deadline = op.waits(self);
        self.wait_until(want, deadline, since).await?;
        self.run_op(op, attempt).await
    }

    /// [`run`](Core::run) from `op`'s state.
    #[inline]
    async fn run_op<T>(
        &self,
        mut op: Op,
        mut attempt: impl FnMut(&Core, bool) -> Result<Attempt<T>>,
    ) -> Result<T> {
        let want = op.want;
        loop {
            // Before the attempt, so that yielding cannot lose anything.
            let budget = budget().await;
            match attempt(self, op.waited)? {
                Attempt::Done { value, bytes } => {
                    budget.made_progress(bytes);
                    return Ok(value);
                }
                Attempt::WouldBlock(since) => {
                    drop(budget);
                    let deadline = op.waits(self);
                    self.wait_until(want, deadline, since).await?;
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// An operation whose first attempt is made in the awaiting task's own
    /// poll. It is generic, so the compiler can inline that attempt into
    /// the task, where an `async fn` of this crate stays a function of its
    /// own; the loop is the same as [`Core::run`]'s. `value` is what the
    /// attempts work on and what the future gives back when one is done
    /// (the message received into). If the first attempt would block,
    /// `slow`, given `value` and the stamp the attempt left, makes the
    /// future that waits and runs the loop from there
    /// ([`Core::run_after_wait`]).
    pub(crate) struct TryFirst<'a, V, A, F, S> {
        core: &'a Core,
        value: Option<V>,
        attempt: A,
        slow: F,
        #[pin]
        waiting: Option<S>,
    }
}

impl<'a, V, A, F, S> TryFirst<'a, V, A, F, S> {
    pub(crate) fn new(core: &'a Core, value: V, attempt: A, slow: F) -> Self {
        TryFirst {
            core,
            value: Some(value),
            attempt,
            slow,
            waiting: None,
        }
    }
}

impl<V, A, F, S> Future for TryFirst<'_, V, A, F, S>
where
    A: FnMut(&Core, &mut V, bool) -> Result<Attempt<()>>,
    F: FnMut(V, Option<Stamp>) -> S,
    S: Future<Output = Result<V>>,
{
    type Output = Result<V>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<V>> {
        let mut this = self.project();
        if let Some(waiting) = this.waiting.as_mut().as_pin_mut() {
            return waiting.poll(cx);
        }
        // Before the attempt, so that yielding cannot lose anything.
        let budget = ready!(poll_budget(cx));
        // Taken whatever the outcome: done, failed, or handed to `slow`.
        let Some(mut value) = this.value.take() else {
            panic!("a zmq-tokio operation polled after it completed");
        };
        match (this.attempt)(this.core, &mut value, false) {
            Ok(Attempt::Done { bytes, .. }) => {
                budget.made_progress(bytes);
                Poll::Ready(Ok(value))
            }
            Ok(Attempt::WouldBlock(since)) => {
                drop(budget);
                let mut waiting = this.waiting;
                waiting.set(Some((this.slow)(value, since)));
                match waiting.as_pin_mut() {
                    Some(waiting) => waiting.poll(cx),
                    None => unreachable!("just set"),
                }
            }
            Err(e) => Poll::Ready(Err(e)),
        }
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

    /// The operation is about to wait: its deadline, set when it first
    /// waits and kept until it is done.
    fn waits(&mut self, core: &Core) -> Option<Instant> {
        self.waited = true;
        *self
            .deadline
            .get_or_insert_with(|| core.deadline(self.want))
    }

    /// Ready for the next operation.
    #[inline]
    fn finish(&mut self) {
        self.deadline = None;
        self.waited = false;
    }
}

/// The loop of [`Core::run`] for poll-based impls (`Stream`, `Sink`),
/// whose pending wait is kept in `wait` and whose progress in `op`.
pub(crate) fn poll_op<T>(
    cx: &mut Context<'_>,
    core: &Core,
    op: &mut Op,
    wait: &mut BoxedWait,
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
                drop(budget);
                let deadline = op.waits(core);
                wait.start(op.want, deadline, since);
            }
            Err(e) => {
                op.finish();
                return Poll::Ready(Err(e));
            }
        }
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

impl BoxedWait {
    /// Starts waiting in `want` after an attempt that left `since`.
    fn start(&mut self, want: Want, deadline: Option<Instant>, since: Option<Stamp>) {
        let core = Arc::clone(&self.core);
        let future = async move { core.wait_until(want, deadline, since).await };
        match &mut self.future {
            Some(boxed) => boxed.set(future),
            None => self.future = Some(ReusableBoxFuture::new(future)),
        }
        self.active = true;
    }

    /// Polls the pending wait; `Ready(Ok)` when none is pending. A wait
    /// that ends is no longer pending.
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
