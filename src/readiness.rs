//! Readiness: how a socket's tasks wait for libzmq without losing a wakeup.
//!
//! libzmq signals through `ZMQ_FD`, an fd that becomes readable when the
//! socket's command mailbox goes from empty to busy. That one edge stands
//! for changes of both directions (POLLIN and POLLOUT), and only a drain of
//! the mailbox re-arms it: reading `ZMQ_EVENTS` always drains, a send or
//! receive only sometimes. So after any libzmq call, a direction may have
//! become ready without a new edge. The rules below make sure some task
//! always looks:
//!
//! 1. Every operation is tried first with `ZMQ_DONTWAIT`; only on `EAGAIN`
//!    does its task wait. The failed attempt leaves a stamp: the socket
//!    lock's word as the attempt released it (the word counts releases).
//! 2. A waiter enables its [`Notified`](tokio::sync::futures::Notified),
//!    then counts itself in its direction's `waiters`.
//! 3. It then reads `ZMQ_EVENTS` and returns at once if its bit is set,
//!    unless nobody has taken the socket's lock since its failed attempt
//!    (the lock word still equals the stamp): then that attempt's view is
//!    still the latest, and the read would only cost a `poll` system call.
//! 4. Otherwise it waits for the first of: the fd's readiness, its
//!    direction's `Notify`, or the socket's close token. After the fd fires
//!    it reads `ZMQ_EVENTS` and calls `clear_ready()`, which keeps any edge
//!    that arrived after the guard was taken; it returns if its bit is set.
//! 5. After every successful call, and after every `ZMQ_EVENTS` read, a task
//!    that sees waiters reads `ZMQ_EVENTS` (if it has not just done so) and
//!    wakes each direction that has waiters and whose bit is set, its own
//!    direction included when other tasks wait there (a task never wakes
//!    itself: tokio would treat that as a yield and wake another worker).
//!
//! Why nothing is lost. Tokio's readiness for the fd is set by every edge
//! and cleared only by a waiter right after its own `ZMQ_EVENTS` read,
//! which drained the mailbox; an edge that came after that waiter's guard
//! survives the clear. So a command sent to the socket has either been
//! processed by a libzmq call under the lock, or its edge has set the
//! readiness, which wakes every task waiting on the fd and stays set until
//! a waiter reads `ZMQ_EVENTS` after it.
//!
//! A change that a waiter W needs is made by some libzmq call C under the
//! lock: C processes the command that brings it, or makes it itself. If C
//! came before W's `ZMQ_EVENTS` read of rule 3 (or, when W skips that read,
//! before W's failed attempt), W saw the change. If C came after: when W
//! read `ZMQ_EVENTS`, the lock orders W's count before C's holder's load of
//! it; when W skipped the read, W's load of the lock word (sequentially
//! consistent, after W's sequentially consistent increment) did not see C's
//! lock, so C's lock and its holder's later load of the count (both
//! sequentially consistent) come after W's increment in their single total
//! order. Either way C's holder sees W counted. If C succeeded, its task
//! wakes W by rule 5; if C was a `ZMQ_EVENTS` read, its reader does. If C
//! was a failed attempt that processed the command, that command's edge
//! set the readiness (it was not drained before), so W's wait on the fd
//! ends, or a waiter that reads `ZMQ_EVENTS` first wakes W by rule 5. W's
//! `Notified` was enabled before its count was visible, so a wakeup cannot
//! fall between its check and its sleep.

use std::ffi::c_int;
use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::raw::{self, RawSocket, SocketGuard, SocketLock, Stamp};
use crate::{Context, Endpoints, Error, Message, Multipart, Result, SocketType};

/// A direction of readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// POLLIN: a message can be received.
    Recv = 0,
    /// POLLOUT: a message can be sent.
    Send = 1,
}

impl Want {
    fn bit(self) -> c_int {
        match self {
            Want::Recv => raw::POLLIN,
            Want::Send => raw::POLLOUT,
        }
    }
}

/// What a non-blocking send did.
pub(crate) enum Sent {
    /// Every frame went out: `bytes` in all.
    All { bytes: usize },
    /// Nothing went out: the socket cannot take a message now. The stamp
    /// is the lock's as the attempt left it (see [`Core::wait`]).
    Full(Stamp),
    /// libzmq failed before frame `unsent`; that frame and those after it
    /// were not sent.
    Failed { error: Error, unsent: usize },
}

/// What a non-blocking receive did.
pub(crate) enum Received {
    /// A whole message of `bytes` (all frames) is in the caller's
    /// `Multipart`.
    Message { bytes: usize },
    /// Nothing was waiting (`EAGAIN`); the stamp is the lock's as the
    /// attempt left it (see [`Core::wait`]).
    Nothing(Stamp),
}

/// The shared state of one socket.
pub(crate) struct Core {
    /// The libzmq socket, `None` once closed. The lock is held for one
    /// non-blocking libzmq call (or one whole multipart message) at a time.
    raw: SocketLock<Option<RawSocket>>,
    /// A duplicate of `ZMQ_FD`, registered for readability; `None` only
    /// once the last holder has closed the socket.
    fd: Option<AsyncFd<OwnedFd>>,
    kind: SocketType,
    /// Tasks waiting in each direction (indexed by `Want`).
    waiters: [AtomicUsize; 2],
    notify: [Notify; 2],
    /// `RCVTIMEO` and `SNDTIMEO` in milliseconds (indexed by `Want`), kept
    /// here because every libzmq call is non-blocking, so libzmq's own
    /// timeouts never apply.
    timeouts: [AtomicI32; 2],
    /// Cancelled on close, on drop, and (as a child of the context's token)
    /// on context shutdown.
    closed: CancellationToken,
    /// What is bound (resolved) and connected now.
    endpoints: Mutex<Endpoints>,
    /// Set by an explicit close or drop, to tell `Closed` from
    /// `ContextTerminated`.
    closed_here: AtomicBool,
    ctx: Context,
}

impl Core {
    pub(crate) fn open(ctx: &Context, kind: SocketType) -> Result<Core> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime);
        }
        if ctx.is_shutdown() {
            return Err(Error::ContextTerminated);
        }
        let raw = ctx.raw_socket(kind)?;
        raw.set_int(zmq_sys::ZMQ_LINGER as c_int, crate::DEFAULT_LINGER_MS)
            .map_err(|e| Error::zmq(e, "set LINGER"))?;
        let fd = raw.register_fd().map_err(|e| match e {
            raw::RegisterError::NoIoDriver => Error::NoRuntime,
            raw::RegisterError::Io(e) => Error::Io(e),
        })?;
        Ok(Core {
            raw: SocketLock::new(Some(raw)),
            fd: Some(fd),
            kind,
            waiters: [AtomicUsize::new(0), AtomicUsize::new(0)],
            notify: [Notify::new(), Notify::new()],
            timeouts: [AtomicI32::new(-1), AtomicI32::new(-1)],
            closed: ctx.shutdown_token().child_token(),
            closed_here: AtomicBool::new(false),
            endpoints: Mutex::new(Endpoints::default()),
            ctx: ctx.clone(),
        })
    }

    pub(crate) fn kind(&self) -> SocketType {
        self.kind
    }

    pub(crate) fn context(&self) -> &Context {
        &self.ctx
    }

    pub(crate) fn closed_token(&self) -> &CancellationToken {
        &self.closed
    }

    /// The error for an operation on a socket that can no longer work.
    pub(crate) fn closed_error(&self) -> Error {
        if !self.closed_here.load(Ordering::Acquire) && self.ctx.is_shutdown() {
            Error::ContextTerminated
        } else {
            Error::Closed
        }
    }

    /// Runs `f` on the libzmq socket under the lock.
    pub(crate) fn with_raw<R>(&self, f: impl FnOnce(&RawSocket) -> Result<R>) -> Result<R> {
        let guard = self.raw.lock();
        match self.live(&guard) {
            Some(raw) => f(raw),
            None => Err(self.closed_error()),
        }
    }

    /// The endpoint list, to read or update.
    pub(crate) fn endpoints(&self) -> std::sync::MutexGuard<'_, Endpoints> {
        self.endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the libzmq socket for every holder and wakes every waiter.
    /// `zmq_close` does not block; lingering messages are left to libzmq's
    /// reaper thread. Later operations report [`Error::Closed`].
    pub(crate) fn close(&self) {
        self.close_with(true);
    }

    /// Closes the libzmq socket because its context is terminating: later
    /// operations report [`Error::ContextTerminated`].
    pub(crate) fn close_for_termination(&self) {
        self.close_with(false);
    }

    fn close_with(&self, explicit: bool) {
        let raw = self.raw.lock().take();
        if explicit && raw.is_some() {
            self.closed_here.store(true, Ordering::Release);
        }
        self.closed.cancel();
        drop(raw);
    }

    /// Closes the socket when its last holder drops it, with exclusive
    /// access: the fd is deregistered from the reactor first, then the
    /// libzmq socket closed. (Our registration is on a duplicate of
    /// `ZMQ_FD`, so the order is not needed for soundness; it keeps the
    /// reactor from ever watching a socket libzmq's reaper owns.)
    pub(crate) fn close_exclusive(&mut self) {
        drop(self.fd.take());
        self.close();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Reads `ZMQ_EVENTS` and wakes the waiters it may concern: the read
    /// drains the mailbox, and with it the edge they might be waiting for.
    pub(crate) fn events(&self) -> Result<c_int> {
        let events = self.read_events()?;
        self.wake(events);
        Ok(events)
    }

    fn read_events(&self) -> Result<c_int> {
        self.with_raw(|raw| raw.events().map_err(|e| Error::zmq(e, "get EVENTS")))
    }

    /// Wakes each direction that has waiters and whose bit is in `events`.
    fn wake(&self, events: c_int) {
        for want in [Want::Recv, Want::Send] {
            if events & want.bit() != 0 && self.waiters[want as usize].load(Ordering::SeqCst) > 0 {
                self.notify[want as usize].notify_waiters();
            }
        }
    }

    /// [`wake`](Core::wake), for a waiter in direction `want` that has just
    /// read `events`: its own direction is woken only if other tasks wait
    /// there too. Waking its own `Notified` would wake the task while it
    /// runs, and tokio reschedules such a task as if it had yielded, which
    /// wakes another worker thread for nothing (measured: one futex wake
    /// per message in a REQ/REP round trip). A waiter that sees its bit
    /// returns and tries; if it fails, it reads `ZMQ_EVENTS` again itself.
    fn wake_others(&self, events: c_int, want: Want) {
        for other in [Want::Recv, Want::Send] {
            let waiting = self.waiters[other as usize].load(Ordering::SeqCst);
            let needed = if other == want { 2 } else { 1 };
            if events & other.bit() != 0 && waiting >= needed {
                self.notify[other as usize].notify_waiters();
            }
        }
    }

    /// Rule 5: after a successful call, wake whoever can now proceed. The
    /// hot path (nobody waiting) costs two loads, inlined into the caller.
    /// They are sequentially consistent, as every load of a waiter count
    /// after a libzmq call is (plain loads on x86): the module docs say
    /// why.
    #[inline]
    pub(crate) fn after_success(&self) {
        if self.waiters[0].load(Ordering::SeqCst) != 0
            || self.waiters[1].load(Ordering::SeqCst) != 0
        {
            self.wake_after_success();
        }
    }

    #[cold]
    fn wake_after_success(&self) {
        // An error here means the socket is closed or terminated, which
        // has woken every waiter through the close token already.
        if let Ok(events) = self.read_events() {
            self.wake(events);
        }
    }

    /// Receives a whole message without waiting; `Ok(None)` on `EAGAIN`.
    pub(crate) fn recv_now(&self) -> Result<Option<Multipart>> {
        let mut msg = Multipart::new();
        match self.recv_into(&mut msg)? {
            Received::Message { .. } => Ok(Some(msg)),
            Received::Nothing(_) => Ok(None),
        }
    }

    /// Receives a whole message without waiting into `msg`, reusing its
    /// frames (a proxy's buffer, emptied by a send): libzmq releases what a
    /// frame held before writing to it, and frames the message does not need
    /// are dropped. A new first frame is initialised where it lies, so no
    /// move follows libzmq's writes. `Received::Nothing` on `EAGAIN`: `msg`
    /// holds no message then.
    pub(crate) fn recv_into(&self, msg: &mut Multipart) -> Result<Received> {
        let guard = self.raw.lock();
        let Some(raw) = self.live(&guard) else {
            return Err(self.closed_error());
        };
        let mut index = 0;
        let mut bytes = 0;
        // The first frame of a message stored inline (the common case)
        // goes without the frame loop.
        if let Some(slot) = msg.inline_slot() {
            let frame = match slot {
                Some(frame) => frame,
                None => Message::init_in(slot),
            };
            match retry_eintr(|| raw.recv(frame.raw_mut(), raw::DONTWAIT)) {
                Ok(size) if !frame.more() => return Ok(Received::Message { bytes: size }),
                Ok(size) => (index, bytes) = (1, size),
                Err(raw::EAGAIN) => return Ok(Received::Nothing(guard.stamp())),
                Err(e) => return Err(recv_failed(msg, e)),
            }
        }
        loop {
            let frame = msg.slot(index);
            match retry_eintr(|| raw.recv(frame.raw_mut(), raw::DONTWAIT)) {
                Ok(size) => bytes += size,
                Err(raw::EAGAIN) if index == 0 => return Ok(Received::Nothing(guard.stamp())),
                // libzmq makes a message visible only once all its frames
                // are there, so the rest never waits.
                Err(e) => return Err(recv_failed(msg, e)),
            }
            index += 1;
            if !frame.more() {
                msg.truncate(index);
                return Ok(Received::Message { bytes });
            }
        }
    }

    /// Sends a whole message without waiting. Frames that went out are left
    /// empty in `msg`; on `Full` nothing went out and `msg` is unchanged.
    pub(crate) fn send_now(&self, msg: &mut Multipart) -> Sent {
        // A single frame (the common case) goes without the frame loop.
        if let Some(frame) = msg.inline_frame() {
            let guard = self.raw.lock();
            let Some(raw) = self.live(&guard) else {
                return self.sent_closed();
            };
            return match retry_eintr(|| raw.send(frame.raw_mut(), raw::DONTWAIT)) {
                Ok(bytes) => Sent::All { bytes },
                Err(raw::EAGAIN) => Sent::Full(guard.stamp()),
                Err(e) => Sent::Failed {
                    error: Error::zmq(e, "send"),
                    unsent: 0,
                },
            };
        }
        self.send_frames_now(msg)
    }

    /// [`send_now`](Core::send_now) for a message stored as a list of
    /// frames (of any length).
    fn send_frames_now(&self, msg: &mut Multipart) -> Sent {
        let frames = msg.len();
        if frames == 0 {
            return Sent::Failed {
                error: Error::InvalidMessage {
                    reason: "a message needs at least one frame".into(),
                },
                unsent: 0,
            };
        }
        let guard = self.raw.lock();
        let Some(raw) = self.live(&guard) else {
            return self.sent_closed();
        };
        let mut bytes = 0;
        for index in 0..frames {
            let flags = if index + 1 < frames {
                raw::DONTWAIT | raw::SNDMORE
            } else {
                raw::DONTWAIT
            };
            let Some(frame) = msg.get_mut(index) else {
                unreachable!("index < len")
            };
            // The high-water mark counts whole messages: once libzmq takes
            // the first frame it takes the rest.
            match retry_eintr(|| raw.send(frame.raw_mut(), flags)) {
                Ok(size) => bytes += size,
                Err(raw::EAGAIN) if index == 0 => return Sent::Full(guard.stamp()),
                Err(e) => {
                    return Sent::Failed {
                        error: Error::zmq(e, "send"),
                        unsent: index,
                    }
                }
            }
        }
        Sent::All { bytes }
    }

    /// A send found the socket closed, or its context shut down.
    fn sent_closed(&self) -> Sent {
        Sent::Failed {
            error: self.closed_error(),
            unsent: 0,
        }
    }

    /// The libzmq socket under `guard`, unless it is closed or its context
    /// shut down.
    #[inline]
    fn live<'g>(&self, guard: &'g SocketGuard<'_, Option<RawSocket>>) -> Option<&'g RawSocket> {
        match guard.as_ref() {
            Some(_) if self.ctx.is_shutdown() => None,
            raw => raw,
        }
    }

    /// A send found the socket full. `waited` says whether a wait for
    /// POLLOUT came just before it: ROUTER (with `ROUTER_MANDATORY`) and
    /// STREAM report `EAGAIN` when the addressed peer is full even while
    /// POLLOUT says another peer has room, and no signal tells when that
    /// one peer has room again, so waiting would spin: report it instead.
    pub(crate) fn check_full_after_wait(&self, waited: bool) -> Result<()> {
        if waited && matches!(self.kind, SocketType::Router | SocketType::Stream) {
            return Err(Error::zmq(
                raw::EAGAIN,
                "send (the addressed peer is at its high-water mark)",
            ));
        }
        Ok(())
    }

    /// Waits until `want` may be possible: `ZMQ_EVENTS` showed its bit, or
    /// another task saw it and woke this one. Returns at once if the bit is
    /// set now. `since` is the stamp a failed attempt left, if the wait
    /// follows one: when nobody has used the socket since, the first
    /// `ZMQ_EVENTS` read is skipped (rule 3).
    ///
    /// Cancel safe: it takes nothing from the socket.
    pub(crate) async fn wait(&self, want: Want, since: Option<Stamp>) -> Result<()> {
        // Rule 2: created before the count is visible to anyone who might
        // notify (a `Notified` receives every `notify_waiters` from its
        // creation on, polled or not), so no notification can be missed.
        let notified = self.notify[want as usize].notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let _count = WaiterCount::new(&self.waiters[want as usize]);

        let Some(fd) = &self.fd else {
            return Err(self.closed_error());
        };
        // Rule 3: after the count is visible (a sequentially consistent
        // RMW), a sequentially consistent load of the lock word.
        let skip = since.is_some_and(|stamp| self.raw.unchanged_since(stamp));
        if !skip {
            let events = self.read_events().map_err(|e| self.terminal(e))?;
            // The failed attempt and this read may have processed commands
            // the other direction waits for. Their edges have set the fd's
            // readiness, so its waiters wake anyway; waking them here only
            // spares them a trip through the reactor.
            self.wake(events & !want.bit());
            if events & want.bit() != 0 {
                return Ok(());
            }
        }

        loop {
            tokio::select! {
                biased;
                () = self.closed.cancelled() => return Err(self.closed_error()),
                () = notified.as_mut() => return Ok(()),
                guard = fd.readable() => {
                    let mut guard = guard?;
                    let events = self.read_events().map_err(|e| self.terminal(e))?;
                    self.wake_others(events, want);
                    // Always clear: the read drained the mailbox, so any
                    // later change comes with a new edge, and every waiter
                    // whose bit is set has been woken above. (Keeping the
                    // readiness would cost the next wait a second
                    // `ZMQ_EVENTS` read, and looping on it would spin.) An
                    // edge that came after the guard was taken survives the
                    // clear.
                    guard.clear_ready();
                    if events & want.bit() != 0 {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Records a new `RCVTIMEO` (`Want::Recv`) or `SNDTIMEO`.
    pub(crate) fn set_timeout(&self, want: Want, millis: i32) {
        self.timeouts[want as usize].store(millis, Ordering::Relaxed);
    }

    /// When an operation in direction `want` that starts waiting now must
    /// give up, if it has a timeout.
    pub(crate) fn deadline(&self, want: Want) -> Option<Instant> {
        let millis = self.timeouts[want as usize].load(Ordering::Relaxed);
        let millis = u64::try_from(millis).ok()?;
        Some(Instant::now() + Duration::from_millis(millis))
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

    /// Maps an error seen while waiting: a closed socket reports why.
    fn terminal(&self, error: Error) -> Error {
        match error {
            Error::Closed => self.closed_error(),
            other => other,
        }
    }

    pub(crate) fn fd_number(&self) -> Option<i32> {
        self.fd.as_ref().map(raw::fd_number)
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("kind", &self.kind)
            .field("fd", &self.fd_number())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A receive failed: whatever the error, `msg` is left without a message.
fn recv_failed(msg: &mut Multipart, errno: raw::Errno) -> Error {
    msg.truncate(0);
    Error::zmq(errno, "recv")
}

/// Retries a libzmq call interrupted by a signal.
fn retry_eintr<T>(mut call: impl FnMut() -> Result<T, raw::Errno>) -> Result<T, raw::Errno> {
    loop {
        match call() {
            Err(raw::EINTR) => continue,
            other => return other,
        }
    }
}

/// Counts one waiter for as long as it lives, so that a cancelled wait is
/// uncounted too.
struct WaiterCount<'a>(&'a AtomicUsize);

impl<'a> WaiterCount<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        WaiterCount(count)
    }
}

impl Drop for WaiterCount<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
