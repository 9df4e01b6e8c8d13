//! A socket's shared state, and the wake that every use of it owes.
//!
//! # What libzmq and the kernel do
//!
//! libzmq signals through `ZMQ_FD`, an fd that becomes readable when the
//! socket's command mailbox goes from empty to busy (the writer of a
//! command finds the reader asleep and writes the signal). That one edge
//! stands for changes of both directions, POLLIN and POLLOUT. Any libzmq
//! call that processes the socket's commands may drain the mailbox and
//! consume the signal: a `ZMQ_EVENTS` read through any getter always does;
//! a send or receive that fails with `EAGAIN` does; a successful send or
//! receive sometimes does (`socket_base.cpp`, `process_commands`); bind,
//! connect, unbind and disconnect do, whether they succeed or fail.
//!
//! Tokio's reactor registers the fd with epoll edge-triggered (mio). When
//! the signal is written, epoll queues the fd; but when the reactor's
//! `epoll_wait` harvests its queue, the kernel polls each queued fd again
//! and drops it if it is no longer readable (`fs/eventpoll.c`,
//! `ep_send_events`: an item whose `ep_item_poll` finds no event is
//! skipped). So a call that drains the mailbox between the signal and the
//! harvest erases the edge: Tokio never sees it, and only the task that
//! made the call can know what the commands it processed made ready.
//!
//! # The rules
//!
//! 1. Every libzmq call on the socket is made under its lock, through a
//!    [`Held`] guard. Releasing it is where the wake is owed: if any task
//!    other than the caller waits in either direction, the releaser reads
//!    `ZMQ_EVENTS` (unless the call it made was that read) before it
//!    unlocks, and after unlocking wakes each waiting direction whose bit is
//!    set. This holds for every call, successful or failed, so no call site
//!    can forget it. With nobody waiting it costs one atomic load.
//! 2. Every operation is tried first with `ZMQ_DONTWAIT`; only on `EAGAIN`
//!    does its task wait (`wait.rs`). The failed attempt leaves a stamp: the
//!    lock's word as the attempt released it (the word counts releases),
//!    unless the release read `ZMQ_EVENTS` by rule 1: that read may have
//!    processed commands after the attempt looked, so its view is stale.
//! 3. A waiter creates and enables its [`Notified`](tokio::sync::futures::Notified),
//!    then counts itself in its direction (a sequentially consistent RMW).
//! 4. It then reads `ZMQ_EVENTS` (as a caller in its own direction, so the
//!    release does not wake it) and returns if its bit is set; the read may
//!    be skipped when its attempt left a stamp and nobody has taken the
//!    lock since (a sequentially consistent load of the lock word still
//!    equals the stamp): that attempt's view is then still the latest.
//! 5. Otherwise it waits for the first of: its direction's `Notify`, the
//!    fd's readiness, or the socket's close token. After the fd fires it
//!    reads `ZMQ_EVENTS`, clears Tokio's readiness (`clear_ready` keeps an
//!    edge that arrived after the readiness guard was taken), and returns if
//!    its bit is set, else waits again.
//!
//! # Why no wakeup is lost
//!
//! A waiter W needs a change (a message to read, room to send) that a
//! command C to the socket brings. C is processed by some libzmq call Z
//! under the lock. Say Z ran after W's failed attempt (otherwise W's attempt
//! or its rule-4 read saw the change and W did not sleep).
//!
//! - If Z ran before W's rule-4 read, that read saw the change: W returns.
//! - If W skipped the rule-4 read, nobody took the lock between W's attempt
//!   and W's load of the lock word. Z's lock RMW is then after that load in
//!   the single order of sequentially consistent operations, hence after
//!   W's increment; Z's releaser loads the count after that, and sees W.
//! - If Z ran after W's rule-4 read, the lock orders W's increment before
//!   Z's release, which sees W counted.
//!
//! So Z's releaser sees W waiting. By rule 1 it reads `ZMQ_EVENTS` after Z,
//! under the same lock hold: the read reflects C, and the releaser wakes W
//! if W's bit is set. W's `Notified` was created before its count was
//! visible, so the wake cannot fall between W's check and its sleep (a
//! `Notified` completes for every `notify_waiters` after its creation).
//! The one exception is Z being W's own rule-4 or rule-5 read, which W acts
//! on itself.
//!
//! This needs nothing from the fd: every command is processed by some call
//! under the lock, and every such call's release looks. The fd's edge is
//! what makes some task make a call when no task would otherwise: a command
//! that nobody drains keeps the fd readable, so the reactor's harvest finds
//! it and wakes every task waiting on the fd, which reads `ZMQ_EVENTS`
//! (rule 5). If someone drains it first, that someone's release looks.
//! A waiter that clears readiness has just drained the mailbox itself;
//! any later command comes with a new edge.
//!
//! A task never wakes itself: for its own direction the release counts only
//! the other waiters. A waiter that sees its bit set returns and tries;
//! if that attempt fails, it waits again with a fresh `ZMQ_EVENTS` read.
//! Closing cancels the close token, which wakes every waiter; a socket
//! whose context has shut down reads as closed under the lock.
//!
//! `model.rs` (tests) checks these rules against a model of libzmq's
//! mailbox and of edge-triggered epoll, and shows that waking only after
//! successful calls loses wakeups.

use std::ffi::c_int;
use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zmq_sys as sys;

use crate::raw::{self, RawSocket, SocketGuard, SocketLock, Stamp};
use crate::{Context, Endpoints, Error, Message, Multipart, Result, SocketType};

/// A direction of readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Want {
    /// POLLIN: a message can be received.
    Recv = 0,
    /// POLLOUT: a message can be sent.
    Send = 1,
}

impl Want {
    pub(crate) const BOTH: [Want; 2] = [Want::Recv, Want::Send];

    /// The direction's bit in `ZMQ_EVENTS`.
    pub(crate) fn bit(self) -> c_int {
        match self {
            Want::Recv => raw::POLLIN,
            Want::Send => raw::POLLOUT,
        }
    }

    /// This direction's share of a [`Counts`] word.
    fn one(self) -> u64 {
        match self {
            Want::Recv => 1,
            Want::Send => 1 << 32,
        }
    }
}

/// How many tasks wait in each direction: receivers in the low 32 bits,
/// senders in the high 32, so that one load reads both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Counts(pub(crate) u64);

impl Counts {
    /// The count of one direction.
    pub(crate) fn of(self, want: Want) -> u64 {
        match want {
            Want::Recv => self.0 & 0xffff_ffff,
            Want::Send => self.0 >> 32,
        }
    }

    /// Everybody but `caller`, a task waiting in that direction itself.
    pub(crate) fn without(self, caller: Option<Want>) -> Counts {
        match caller {
            Some(want) if self.of(want) > 0 => Counts(self.0 - want.one()),
            _ => self,
        }
    }

    /// Whether anybody waits.
    pub(crate) fn any(self) -> bool {
        self.0 != 0
    }

    /// The directions to wake after a `ZMQ_EVENTS` read gave `events`:
    /// those with waiters whose bit is set (rule 1).
    pub(crate) fn to_wake(self, events: c_int) -> [bool; 2] {
        Want::BOTH.map(|want| self.of(want) > 0 && events & want.bit() != 0)
    }
}

/// What a non-blocking send did.
pub(crate) enum Sent {
    /// Every frame went out: `bytes` in all.
    All { bytes: usize },
    /// Nothing went out: the socket cannot take a message now. The stamp
    /// is the lock's as the attempt left it, if a waiter may use it
    /// (rule 4).
    Full(Option<Stamp>),
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
    /// attempt left it, if a waiter may use it (rule 4).
    Nothing(Option<Stamp>),
}

/// The shared state of one socket.
pub(crate) struct Core {
    /// The libzmq socket, `None` once closed. Reached only through
    /// [`Core::lock`], held for one non-blocking libzmq call (or one whole
    /// multipart message) at a time.
    raw: SocketLock<Option<RawSocket>>,
    /// A duplicate of `ZMQ_FD`, registered for readability; `None` only
    /// once the last holder has closed the socket.
    fd: Option<AsyncFd<OwnedFd>>,
    kind: SocketType,
    /// Tasks waiting in each direction.
    waiters: AtomicU64,
    /// Per direction (indexed by `Want`), where its waiters sleep.
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
    /// Set, under the socket's lock, by the first successful bind or
    /// connect: from then on the socket may have pipes, some of them being
    /// torn down, so `Socket::set` refuses `SNDHWM`/`RCVHWM` (libzmq
    /// #4524: see `Socket::set`).
    piped: AtomicBool,
    /// Set by the first successful bind: peers come and go here, so the
    /// context's sweeper calls the socket when no task waits on it.
    bound: AtomicBool,
    /// Set by an explicit close or drop, to tell `Closed` from
    /// `ContextTerminated`.
    closed_here: AtomicBool,
    ctx: Context,
}

/// The socket's lock, held for libzmq calls; its release owes the wake of
/// rule 1.
pub(crate) struct Held<'a> {
    core: &'a Core,
    /// `None` only while being released.
    guard: Option<SocketGuard<'a, Option<RawSocket>>>,
    /// The direction the holder itself waits in, if it is a waiter.
    caller: Option<Want>,
    /// What the last libzmq call under this guard read of `ZMQ_EVENTS`, if
    /// the last call was that read.
    events: Option<c_int>,
}

impl<'a> Held<'a> {
    /// The libzmq socket, unless it is closed or its context shut down.
    #[inline]
    pub(crate) fn raw(&mut self) -> Option<&RawSocket> {
        // Whatever is called next may process commands: the events read
        // before it no longer stand for the socket's state.
        self.events = None;
        match self.guard.as_deref() {
            Some(Some(_)) if self.core.ctx.is_shutdown() => None,
            Some(raw) => raw.as_ref(),
            None => None,
        }
    }

    /// [`raw`](Held::raw), or the error for a socket that is gone.
    pub(crate) fn live(&mut self) -> Result<&RawSocket> {
        let core = self.core;
        self.raw().ok_or_else(|| core.closed_error())
    }

    /// Reads `ZMQ_EVENTS`, remembering it for the release.
    pub(crate) fn events(&mut self) -> Result<c_int> {
        let events = self
            .live()?
            .events()
            .map_err(|e| Error::zmq(e, "get EVENTS"))?;
        self.events = Some(events);
        Ok(events)
    }

    /// Releases the lock after an attempt that would block, and gives
    /// the stamp its waiter may skip the rule-4 read with: the lock's word
    /// as this release leaves it, unless the release read `ZMQ_EVENTS`
    /// itself (rule 1), which may have processed commands after the
    /// attempt's view of the socket. Then `None`: the waiter reads.
    pub(crate) fn release_stamped(mut self) -> Option<Stamp> {
        let stamp = self.core.raw.stamp_of_holder();
        let counts = self.core.counts();
        if counts.any() && self.release_and_wake(counts) {
            return None;
        }
        Some(stamp)
    }

    /// Rule 1, once someone waits (`counts`, the caller included): reads
    /// `ZMQ_EVENTS` unless the last call was that read, unlocks, and wakes
    /// every waiter but the caller whose bit is set. Says whether it made
    /// a call.
    #[cold]
    #[inline(never)]
    fn release_and_wake(&mut self, counts: Counts) -> bool {
        let others = counts.without(self.caller);
        if !others.any() || self.guard.is_none() {
            return false;
        }
        let (events, called) = match self.events {
            Some(events) => (events, false),
            None => match self.raw().map(RawSocket::events) {
                Some(Ok(events)) => (events, true),
                // Closed or terminated: the close token has woken every
                // waiter.
                _ => return true,
            },
        };
        // Unlock before waking, so that a woken task does not find the
        // lock still held.
        drop(self.guard.take());
        self.core.notify(others.to_wake(events));
        called
    }
}

impl Drop for Held<'_> {
    #[inline]
    fn drop(&mut self) {
        // Sequentially consistent, after the libzmq calls: the module docs
        // say why (on x86 a plain load).
        let counts = self.core.counts();
        if counts.any() {
            self.release_and_wake(counts);
        }
    }
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
        raw.set_int(sys::ZMQ_LINGER as c_int, crate::DEFAULT_LINGER_MS)
            .map_err(|e| Error::zmq(e, "set LINGER"))?;
        let fd = raw.register_fd().map_err(|e| match e {
            raw::RegisterError::NoIoDriver => Error::NoRuntime,
            raw::RegisterError::Io(e) => Error::Io(e),
        })?;
        Ok(Core {
            raw: SocketLock::new(Some(raw)),
            fd: Some(fd),
            kind,
            waiters: AtomicU64::new(0),
            notify: [Notify::new(), Notify::new()],
            timeouts: [AtomicI32::new(-1), AtomicI32::new(-1)],
            closed: ctx.shutdown_token().child_token(),
            closed_here: AtomicBool::new(false),
            endpoints: Mutex::new(Endpoints::default()),
            piped: AtomicBool::new(false),
            bound: AtomicBool::new(false),
            ctx: ctx.clone(),
        })
    }

    pub(crate) fn kind(&self) -> SocketType {
        self.kind
    }

    pub(crate) fn context(&self) -> &Context {
        &self.ctx
    }

    /// Records that the socket has bound or connected (call under its
    /// lock, after the libzmq call succeeded).
    pub(crate) fn mark_piped(&self) {
        self.piped.store(true, Ordering::Relaxed);
    }

    /// Records that the socket has bound: the sweeper calls it from now on.
    pub(crate) fn mark_bound(&self) {
        self.bound.store(true, Ordering::Relaxed);
    }

    /// Whether the socket has ever bound or connected (read under its lock:
    /// bind and connect set it under the same lock, so the lock orders the
    /// two).
    pub(crate) fn is_piped(&self) -> bool {
        self.piped.load(Ordering::Relaxed)
    }

    pub(crate) fn closed_token(&self) -> &CancellationToken {
        &self.closed
    }

    /// Takes the socket's lock for libzmq calls; `caller` is the direction
    /// the holder waits in itself, if it is a waiter (rule 1).
    #[inline]
    pub(crate) fn lock(&self, caller: Option<Want>) -> Held<'_> {
        Held {
            core: self,
            guard: Some(self.raw.lock()),
            caller,
            events: None,
        }
    }

    /// Runs `f` on the libzmq socket under the lock.
    pub(crate) fn with_raw<R>(&self, f: impl FnOnce(&RawSocket) -> Result<R>) -> Result<R> {
        f(self.lock(None).live()?)
    }

    /// The waiter counts (a sequentially consistent load).
    #[inline]
    pub(crate) fn counts(&self) -> Counts {
        Counts(self.waiters.load(Ordering::SeqCst))
    }

    /// Counts a waiter in `want` until the returned guard drops (rule 3).
    pub(crate) fn count_waiter(&self, want: Want) -> WaiterCount<'_> {
        self.waiters.fetch_add(want.one(), Ordering::SeqCst);
        WaiterCount { core: self, want }
    }

    /// Wakes every task waiting in the directions marked in `wake`.
    fn notify(&self, wake: [bool; 2]) {
        for want in Want::BOTH {
            if wake[want as usize] {
                self.notify[want as usize].notify_waiters();
            }
        }
    }

    /// Where waiters in `want` sleep.
    pub(crate) fn notify_of(&self, want: Want) -> &Notify {
        &self.notify[want as usize]
    }

    /// Whether nobody has taken the lock since the guard that gave `stamp`
    /// was dropped (rule 4).
    pub(crate) fn unchanged_since(&self, stamp: Stamp) -> bool {
        self.raw.unchanged_since(stamp)
    }

    /// The registered fd, `None` once the last holder closed the socket.
    pub(crate) fn fd(&self) -> Option<&AsyncFd<OwnedFd>> {
        self.fd.as_ref()
    }

    /// The error for an operation on a socket that can no longer work.
    pub(crate) fn closed_error(&self) -> Error {
        if !self.closed_here.load(Ordering::Acquire) && self.ctx.is_shutdown() {
            Error::ContextTerminated
        } else {
            Error::Closed
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
        // Not through `Held`: the close token wakes every waiter.
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

    /// Reads `ZMQ_EVENTS`; the release wakes the waiters it concerns.
    pub(crate) fn events(&self) -> Result<c_int> {
        self.lock(None).events()
    }

    /// For the context's sweeper: reads `ZMQ_EVENTS` (which processes the
    /// socket's commands) of a socket that has bound, unless a task waits
    /// on it (its wait does that) or it is closed. Like any call, its
    /// release wakes a waiter that came meanwhile (rule 1).
    pub(crate) fn sweep(&self) {
        if !self.bound.load(Ordering::Relaxed) || self.counts().any() || self.is_closed() {
            return;
        }
        let _ = self.events();
    }

    /// [`events`](Core::events), with the stamp the read left, if a
    /// waiter may use it (rule 4).
    pub(crate) fn events_stamped(&self) -> Result<(c_int, Option<Stamp>)> {
        let mut held = self.lock(None);
        let events = held.events()?;
        Ok((events, held.release_stamped()))
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
        let mut held = self.lock(None);
        let raw = held.live()?;
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
                Err(raw::EAGAIN) => return Ok(Received::Nothing(held.release_stamped())),
                Err(e) => return Err(recv_failed(msg, e)),
            }
        }
        loop {
            let frame = msg.slot(index);
            match retry_eintr(|| raw.recv(frame.raw_mut(), raw::DONTWAIT)) {
                Ok(size) => bytes += size,
                Err(raw::EAGAIN) if index == 0 => {
                    return Ok(Received::Nothing(held.release_stamped()))
                }
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
            let mut held = self.lock(None);
            let raw = match held.live() {
                Ok(raw) => raw,
                Err(error) => return Sent::Failed { error, unsent: 0 },
            };
            return match retry_eintr(|| raw.send(frame.raw_mut(), raw::DONTWAIT)) {
                Ok(bytes) => Sent::All { bytes },
                Err(raw::EAGAIN) => Sent::Full(held.release_stamped()),
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
        let mut held = self.lock(None);
        let raw = match held.live() {
            Ok(raw) => raw,
            Err(error) => return Sent::Failed { error, unsent: 0 },
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
                Err(raw::EAGAIN) if index == 0 => return Sent::Full(held.release_stamped()),
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

    /// Maps an error seen while waiting: a closed socket reports why.
    pub(crate) fn terminal(&self, error: Error) -> Error {
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
pub(crate) struct WaiterCount<'a> {
    core: &'a Core,
    want: Want,
}

impl Drop for WaiterCount<'_> {
    fn drop(&mut self) {
        self.core
            .waiters
            .fetch_sub(self.want.one(), Ordering::SeqCst);
    }
}

/// What a socket can do now without waiting: libzmq's `ZMQ_EVENTS`, from
/// [`Socket::events`](crate::Socket::events).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Events(c_int);

impl Events {
    /// No readiness.
    pub const NONE: Events = Events(0);
    /// POLLIN: at least one whole message can be received.
    pub const READABLE: Events = Events(raw::POLLIN);
    /// POLLOUT: at least one message can be sent.
    pub const WRITABLE: Events = Events(raw::POLLOUT);

    pub(crate) fn from_raw(raw: c_int) -> Events {
        Events(raw & (Self::READABLE.0 | Self::WRITABLE.0))
    }

    /// Whether a message can be received now.
    pub fn is_readable(self) -> bool {
        self.contains(Events::READABLE)
    }

    /// Whether a message can be sent now.
    pub fn is_writable(self) -> bool {
        self.contains(Events::WRITABLE)
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: Events) -> bool {
        self.0 & other.0 == other.0
    }

    /// The raw `ZMQ_POLLIN | ZMQ_POLLOUT` bits.
    pub fn bits(self) -> c_int {
        self.0
    }
}

impl std::ops::BitOr for Events {
    type Output = Events;

    fn bitor(self, rhs: Events) -> Events {
        Events(self.0 | rhs.0)
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("Events(READABLE | WRITABLE)"),
            (true, false) => f.write_str("Events(READABLE)"),
            (false, true) => f.write_str("Events(WRITABLE)"),
            (false, false) => f.write_str("Events(NONE)"),
        }
    }
}
