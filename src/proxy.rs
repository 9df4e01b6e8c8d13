//! An async proxy between two sockets, with capture, control and cancel.
//!
//! Like libzmq's `zmq_proxy_steerable`, but as a future that runs among a
//! server's other tasks, and without its stalls. Each direction forwards
//! without waiting while messages flow (try first, as `send` and `recv`
//! do); once its destination is full it stops reading its source (holding
//! at most the one message it read last) and waits for room, while the
//! other direction goes on. So a full backend never stops replies from
//! flowing back, and cancel, terminate and pause take effect at once even
//! when both sides are full.

use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

use crate::raw::Stamp;
use crate::socket::core::{Received, Sent, Want};
use crate::{Error, Multipart, Result, Socket};

/// Which way a message goes through a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the frontend to the backend (requests, for a broker).
    FrontendToBackend,
    /// From the backend to the frontend (replies, for a broker).
    BackendToFrontend,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::FrontendToBackend => 0,
            Direction::BackendToFrontend => 1,
        }
    }

    /// The other direction.
    pub fn opposite(self) -> Direction {
        match self {
            Direction::FrontendToBackend => Direction::BackendToFrontend,
            Direction::BackendToFrontend => Direction::FrontendToBackend,
        }
    }
}

/// How many messages one direction forwards, by default, before the proxy
/// looks at cancel, control and the other direction again. `cargo bench
/// --bench ratio` measured bursts of 16, 64, 256 and 1024 at 16 B over tcp
/// and inproc: no size stood out beyond the run-to-run spread (the figures are
/// in the repository's `benches/README.md`), so the default bounds the time one direction can hold the
/// other back while keeping the per-burst checks rare.
pub const DEFAULT_BURST: usize = 256;

/// The capture callback.
type Capture = Box<dyn FnMut(Direction, &Multipart) + Send>;

/// Starts a proxy between `frontend` and `backend`: every message received
/// on one is sent on the other. Configure it, then [`run`](Proxy::run) it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmq_tokio::Result<()> {
/// use zmq_tokio::{proxy, Context, Direction, SocketType};
///
/// let ctx = Context::new();
/// let frontend = ctx.socket(SocketType::Pull)?;
/// frontend.bind("inproc://jobs")?;
/// let backend = ctx.socket(SocketType::Push)?;
/// backend.bind("inproc://workers")?;
///
/// let proxy = proxy(frontend, backend).capture(|direction, msg| {
///     assert_eq!(direction, Direction::FrontendToBackend);
///     println!("forwarding {} frames", msg.len());
/// });
/// let control = proxy.control();
/// let running = tokio::spawn(proxy.run());
///
/// let producer = ctx.socket(SocketType::Push)?;
/// producer.connect("inproc://jobs")?;
/// let worker = ctx.socket(SocketType::Pull)?;
/// worker.connect("inproc://workers")?;
/// producer.send("job").await?;
/// assert_eq!(worker.recv_string().await?, "job");
///
/// control.terminate();
/// let outcome = running.await.unwrap()?;
/// assert_eq!(outcome.stats.frontend_to_backend.messages, 1);
/// # Ok(())
/// # }
/// ```
pub fn proxy(frontend: Socket, backend: Socket) -> Proxy {
    Proxy {
        frontend,
        backend,
        capture: None,
        capture_socket: None,
        burst: DEFAULT_BURST,
        shared: Arc::new(Shared::new()),
    }
}

/// A proxy being configured; [`run`](Proxy::run) or
/// [`run_until`](Proxy::run_until) it.
#[must_use = "a proxy does nothing until it is run"]
pub struct Proxy {
    frontend: Socket,
    backend: Socket,
    capture: Option<Capture>,
    capture_socket: Option<Socket>,
    burst: usize,
    shared: Arc<Shared>,
}

/// The state shared with [`ProxyControl`] handles.
struct Shared {
    state: watch::Sender<State>,
    /// Whether the state is anything but running: checked before each
    /// message of a burst, so that pause and terminate take effect at once.
    stopped: AtomicBool,
    /// Messages and bytes per direction, indexed by `Direction::index`.
    messages: [AtomicU64; 2],
    bytes: [AtomicU64; 2],
    capture_dropped: AtomicU64,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            state: watch::Sender::new(State::Running),
            stopped: AtomicBool::new(false),
            messages: [AtomicU64::new(0), AtomicU64::new(0)],
            bytes: [AtomicU64::new(0), AtomicU64::new(0)],
            capture_dropped: AtomicU64::new(0),
        }
    }

    fn stats(&self) -> ProxyStats {
        let traffic = |i: usize| Traffic {
            messages: self.messages[i].load(Ordering::Relaxed),
            bytes: self.bytes[i].load(Ordering::Relaxed),
        };
        ProxyStats {
            frontend_to_backend: traffic(0),
            backend_to_frontend: traffic(1),
            capture_dropped: self.capture_dropped.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Paused,
    Terminated,
}

impl Proxy {
    /// Calls `capture` for every message, once, whole, in the order the
    /// proxy forwards them, just before it is forwarded. It runs on the
    /// proxy's task: keep it short.
    pub fn capture(mut self, capture: impl FnMut(Direction, &Multipart) + Send + 'static) -> Self {
        self.capture = Some(Box::new(capture));
        self
    }

    /// Also sends a copy of every message on `socket`, like libzmq's
    /// capture socket. Copies never wait: when the capture socket cannot
    /// take one, it is dropped and counted in
    /// [`ProxyStats::capture_dropped`]; the proxy never stalls for it.
    pub fn capture_socket(mut self, socket: Socket) -> Self {
        self.capture_socket = Some(socket);
        self
    }

    /// Sets the fairness bound: how many messages one direction may forward
    /// without waiting before the proxy looks at cancel, control and the
    /// other direction again ([`DEFAULT_BURST`] unless set). Pause and
    /// terminate act between any two messages whatever the bound; a smaller
    /// bound makes a busy direction yield to the other sooner, a larger one
    /// spends less time per message on those checks.
    pub fn burst(mut self, messages: NonZeroUsize) -> Self {
        self.burst = messages.get();
        self
    }

    /// A handle to pause, resume and terminate the proxy and read its
    /// statistics, from any task or thread.
    pub fn control(&self) -> ProxyControl {
        ProxyControl {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Runs the proxy until it is terminated through a [`ProxyControl`], a
    /// socket is closed (or its context shut down), or an error.
    ///
    /// # Errors
    ///
    /// The first error of a socket other than being closed; the sockets are
    /// dropped then.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the sockets, and with them a message the
    /// proxy had received but not yet been able to send (at most one per
    /// direction). Use [`run_until`](Proxy::run_until) to stop it and get
    /// the sockets and such messages back.
    pub async fn run(self) -> Result<ProxyOutcome> {
        self.run_until(std::future::pending()).await
    }

    /// Runs the proxy like [`run`](Proxy::run), and also stops when
    /// `cancel` completes (a shutdown signal, a timer, ...).
    ///
    /// # Errors
    ///
    /// As [`run`](Proxy::run).
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Proxy::run); `cancel` is the way to stop it cleanly.
    ///
    /// # Examples
    ///
    /// A proxy that runs until a signal, then gives its sockets back:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use tokio::sync::oneshot;
    /// use zmq_tokio::{proxy, Socket, SocketType};
    ///
    /// let frontend = Socket::new(SocketType::Pull)?;
    /// frontend.bind("inproc://run-until-in")?;
    /// let backend = Socket::new(SocketType::Push)?;
    /// backend.bind("inproc://run-until-out")?;
    /// let (stop, stopped) = oneshot::channel::<()>();
    /// let running = tokio::spawn(proxy(frontend, backend).run_until(async {
    ///     let _ = stopped.await;
    /// }));
    ///
    /// let producer = Socket::new(SocketType::Push)?;
    /// producer.connect("inproc://run-until-in")?;
    /// let consumer = Socket::new(SocketType::Pull)?;
    /// consumer.connect("inproc://run-until-out")?;
    /// producer.send("through the proxy").await?;
    /// assert_eq!(consumer.recv_string().await?, "through the proxy");
    ///
    /// stop.send(()).unwrap();
    /// let outcome = running.await.unwrap()?;
    /// assert_eq!(outcome.stats.frontend_to_backend.messages, 1);
    /// assert!(outcome.unsent.is_empty());
    /// // outcome.frontend and outcome.backend are the sockets, still bound.
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run_until(self, cancel: impl Future<Output = ()>) -> Result<ProxyOutcome> {
        let Proxy {
            frontend,
            backend,
            capture,
            capture_socket,
            burst,
            shared,
        } = self;
        let mut forwarder = Forwarder {
            sockets: [frontend, backend],
            capture,
            capture_socket,
            burst,
            shared: &shared,
            buffers: [Multipart::new(), Multipart::new()],
            pending: [false, false],
        };
        let result = forwarder.run(cancel).await;
        let Forwarder {
            sockets: [frontend, backend],
            capture_socket,
            buffers,
            pending,
            ..
        } = forwarder;
        match result {
            Ok(()) | Err(Error::Closed | Error::ContextTerminated) => {
                let unsent = [Direction::FrontendToBackend, Direction::BackendToFrontend]
                    .into_iter()
                    .zip(buffers)
                    .zip(pending)
                    .filter_map(|((direction, msg), pending)| pending.then_some((direction, msg)))
                    .collect();
                Ok(ProxyOutcome {
                    frontend,
                    backend,
                    capture_socket,
                    stats: shared.stats(),
                    unsent,
                })
            }
            Err(e) => Err(e),
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("frontend", &self.frontend)
            .field("backend", &self.backend)
            .field("capture", &self.capture.is_some())
            .field("capture_socket", &self.capture_socket)
            .field("burst", &self.burst)
            .finish()
    }
}

/// The running proxy's state.
struct Forwarder<'a> {
    /// Frontend and backend.
    sockets: [Socket; 2],
    capture: Option<Capture>,
    capture_socket: Option<Socket>,
    /// Messages per burst: the fairness bound.
    burst: usize,
    shared: &'a Shared,
    /// Per direction, the message being forwarded. The buffer is reused:
    /// a send leaves its frames empty, and the next receive writes into
    /// them, as `zmq_proxy` reuses one `zmq_msg_t`.
    buffers: [Multipart; 2],
    /// Per direction, whether its buffer holds a message received and
    /// captured but not sent yet: its destination was full (a source can
    /// hold more than a destination takes), sending failed, or the proxy
    /// was paused. It goes before anything else in that direction.
    pending: [bool; 2],
}

/// The source and destination of `direction`.
fn ends(sockets: &[Socket; 2], direction: Direction) -> (&Socket, &Socket) {
    let [frontend, backend] = sockets;
    match direction {
        Direction::FrontendToBackend => (frontend, backend),
        Direction::BackendToFrontend => (backend, frontend),
    }
}

/// What a direction of the proxy waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocked {
    /// Its source had no message; the stamp the attempt left.
    Source(Option<Stamp>),
    /// Its destination could not take the pending message; the stamp the
    /// attempt left.
    Destination(Option<Stamp>),
    /// Its socket types cannot carry messages this way.
    Never,
}

/// Waits until `direction`, blocked on `blocked`, may go on. A free
/// function over the sockets alone, so that the proxy's future does not
/// hold a reference to the (not `Sync`) capture callback across an
/// `.await`.
///
/// Cancel safe: it only waits for readiness.
async fn wait(sockets: &[Socket; 2], direction: Direction, blocked: Option<Blocked>) -> Result<()> {
    let (source, destination) = ends(sockets, direction);
    match blocked {
        // Straight to the socket's wait, with the failed attempt's stamp:
        // no `ZMQ_EVENTS` read before sleeping when nobody has used the
        // socket since (`readable()` would make two).
        Some(Blocked::Source(stamp)) => source.core().wait(Want::Recv, stamp).await,
        Some(Blocked::Destination(stamp)) => destination.core().wait(Want::Send, stamp).await,
        Some(Blocked::Never) => std::future::pending().await,
        None => Ok(()),
    }
}

impl Forwarder<'_> {
    fn ends(&self, direction: Direction) -> (&Socket, &Socket) {
        ends(&self.sockets, direction)
    }

    async fn run(&mut self, cancel: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(cancel);
        let mut state = self.shared.state.subscribe();
        // Per direction, what it waits for; `None`: it may try now. A
        // direction the socket types cannot carry (out of a PUSH, into a
        // PULL) never runs.
        let mut blocked =
            [Direction::FrontendToBackend, Direction::BackendToFrontend].map(|direction| {
                let (source, destination) = self.ends(direction);
                let possible = source.kind().can_recv() && destination.kind().can_send();
                (!possible).then_some(Blocked::Never)
            });
        let mut first = Direction::FrontendToBackend;
        loop {
            let current = *state.borrow_and_update();
            match current {
                State::Terminated => return Ok(()),
                State::Paused => {
                    tokio::select! {
                        biased;
                        () = &mut cancel => return Ok(()),
                        _ = state.changed() => continue,
                    }
                }
                State::Running => {}
            }
            let second = first.opposite();
            if blocked[first.index()].is_none() || blocked[second.index()].is_none() {
                // Try first, as `send` and `recv` do: no readiness check
                // while messages flow. Cancel and control are looked at
                // before each round, without waiting.
                tokio::select! {
                    biased;
                    () = &mut cancel => return Ok(()),
                    _ = state.changed() => continue,
                    () = std::future::ready(()) => {}
                }
                for direction in [first, second] {
                    if blocked[direction.index()].is_none() {
                        blocked[direction.index()] = self.burst(direction)?;
                    }
                }
                first = second;
                // Forwarding without waiting spends the budget here.
                tokio::task::consume_budget().await;
                continue;
            }
            // Both directions wait: for the first of them to be ready, with
            // cancel and control first, and the one that went second last
            // time first now.
            let direction = tokio::select! {
                biased;
                () = &mut cancel => return Ok(()),
                _ = state.changed() => continue,
                ready = wait(&self.sockets, first, blocked[first.index()]) => { ready?; first }
                ready = wait(&self.sockets, second, blocked[second.index()]) => { ready?; second }
            };
            blocked[direction.index()] = None;
            first = direction.opposite();
        }
    }

    /// Forwards up to `self.burst` messages in `direction` without
    /// waiting, and says what the direction must wait for, if anything.
    /// Statistics count what was sent, and are published once per burst.
    fn burst(&mut self, direction: Direction) -> Result<Option<Blocked>> {
        let index = direction.index();
        let (source, destination) = ends(&self.sockets, direction);
        let (source, destination) = (source.core(), destination.core());
        let msg = &mut self.buffers[index];
        let (mut messages, mut bytes) = (0, 0);
        let mut result = Ok(None);
        for _ in 0..self.burst {
            if self.shared.stopped.load(Ordering::Acquire) {
                break;
            }
            if !self.pending[index] {
                match source.recv_into(msg) {
                    Ok(Received::Message { .. }) => {}
                    Ok(Received::Nothing(stamp)) => {
                        result = Ok(Some(Blocked::Source(stamp)));
                        break;
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
                self.pending[index] = true;
                if let Some(capture) = &mut self.capture {
                    capture(direction, msg);
                }
                if let Some(socket) = &self.capture_socket {
                    if socket.try_send(msg.clone()).is_err() {
                        self.shared.capture_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            match destination.send_now(msg) {
                // libzmq reports the sizes (as zmq_msg_send's result, each
                // capped at i32::MAX), so no frame is asked for its size
                // before the send.
                Sent::All { bytes: size } => {
                    self.pending[index] = false;
                    messages += 1;
                    bytes += size as u64;
                }
                Sent::Full(stamp) => {
                    result = Ok(Some(Blocked::Destination(stamp)));
                    break;
                }
                Sent::Failed { error, unsent } => {
                    // The frames not sent are kept, so that the outcome can
                    // give them back.
                    *msg = msg.split_off(unsent);
                    result = Err(error);
                    break;
                }
            }
        }
        self.shared.messages[index].fetch_add(messages, Ordering::Relaxed);
        self.shared.bytes[index].fetch_add(bytes, Ordering::Relaxed);
        result
    }
}

/// A handle to a running [`Proxy`]: `Clone + Send + Sync`, usable from any
/// task or thread. Commands take effect at once, even while both sides of
/// the proxy are full. These are the commands of libzmq's
/// `zmq_proxy_steerable` (`PAUSE`, `RESUME`, `TERMINATE`, `STATISTICS`).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmq_tokio::Result<()> {
/// use std::time::Duration;
/// use zmq_tokio::{proxy, Socket, SocketType};
///
/// let frontend = Socket::new(SocketType::Pull)?;
/// frontend.bind("inproc://control-in")?;
/// let backend = Socket::new(SocketType::Push)?;
/// backend.bind("inproc://control-out")?;
/// let proxy = proxy(frontend, backend);
/// let control = proxy.control();
/// let running = tokio::spawn(proxy.run());
///
/// let producer = Socket::new(SocketType::Push)?;
/// producer.connect("inproc://control-in")?;
/// let consumer = Socket::new(SocketType::Pull)?;
/// consumer.connect("inproc://control-out")?;
///
/// control.pause();
/// producer.send("held").await?;
/// let waited = tokio::time::timeout(Duration::from_millis(50), consumer.recv()).await;
/// assert!(waited.is_err(), "a paused proxy forwards nothing");
/// control.resume();
/// assert_eq!(consumer.recv_string().await?, "held");
///
/// control.terminate();
/// running.await.unwrap()?;
/// assert_eq!(control.stats().frontend_to_backend.messages, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ProxyControl {
    shared: Arc<Shared>,
}

impl ProxyControl {
    /// Stops forwarding in both directions; nothing is read while paused.
    /// The proxy checks before every message, so at most the message in
    /// hand when this is called is still forwarded.
    pub fn pause(&self) {
        self.set(State::Paused);
    }

    /// Resumes forwarding after [`pause`](ProxyControl::pause).
    pub fn resume(&self) {
        self.set(State::Running);
    }

    /// Stops the proxy: `run` returns its [`ProxyOutcome`]. Final; a later
    /// `resume` does not restart it.
    pub fn terminate(&self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.shared.state.send_replace(State::Terminated);
    }

    fn set(&self, state: State) {
        self.shared.state.send_if_modified(|current| {
            let change = *current != State::Terminated && *current != state;
            if change {
                *current = state;
                self.shared
                    .stopped
                    .store(state != State::Running, Ordering::Release);
            }
            change
        });
    }

    /// Messages and bytes forwarded so far, per direction. The proxy
    /// publishes its counts after each burst (at most [`Proxy::burst`]
    /// messages, [`DEFAULT_BURST`] unless set), so they may trail what
    /// peers have already received by that much.
    pub fn stats(&self) -> ProxyStats {
        self.shared.stats()
    }
}

impl fmt::Debug for ProxyControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyControl")
            .field("state", &*self.shared.state.borrow())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Traffic in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Whole messages forwarded.
    pub messages: u64,
    /// Bytes forwarded, all frames counted.
    pub bytes: u64,
}

/// A proxy's statistics, from [`ProxyControl::stats`] or
/// [`ProxyOutcome::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// Frontend to backend.
    pub frontend_to_backend: Traffic,
    /// Backend to frontend.
    pub backend_to_frontend: Traffic,
    /// Copies the capture socket could not take.
    pub capture_dropped: u64,
}

/// What a finished proxy gives back.
#[derive(Debug)]
#[non_exhaustive]
pub struct ProxyOutcome {
    /// The frontend socket.
    pub frontend: Socket,
    /// The backend socket.
    pub backend: Socket,
    /// The capture socket, if one was given.
    pub capture_socket: Option<Socket>,
    /// The final statistics.
    pub stats: ProxyStats,
    /// Messages received (and captured) but not forwarded when the proxy
    /// stopped, because their destination was full or failed: at most one
    /// per direction. Not counted in `stats`.
    pub unsent: Vec<(Direction, Multipart)>,
}
