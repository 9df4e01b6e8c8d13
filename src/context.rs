//! The libzmq context: I/O threads and the sockets made from it.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::inproc::Inproc;
use crate::raw::{RawContext, RawSocket};
use crate::socket::core::Core;
use crate::{Error, Result, Socket, SocketType};

/// A libzmq context: the I/O threads behind a set of sockets, and the
/// namespace of their `inproc://` endpoints.
///
/// `Context` is a cheap handle: clones refer to the same libzmq context.
/// Each socket holds a handle too, so the context lives until its last
/// handle and its last socket are gone. libzmq's `zmq_ctx_term`, which
/// waits for the sockets' linger to run out, then runs on a thread of its
/// own when the last handle is dropped inside a Tokio runtime, so a drop
/// never blocks a runtime worker; outside a runtime it runs in place.
///
/// # Idle sockets
///
/// libzmq processes a socket's commands (connections made and lost, pipes
/// to tear down) only inside calls on that socket. A socket that no task
/// awaits, such as a bound ROUTER that nobody receives on, would keep what
/// its departed peers left behind (about 10 KiB each) until its next call.
/// So from its first `bind`, a context has a thread of its own that every
/// 200 ms reads `ZMQ_EVENTS` of each of its sockets that has bound and
/// that no task waits on, which processes those commands: memory no
/// longer grows with every peer that comes and goes (`tests/idle.rs`
/// measures it). A socket a task
/// waits on needs no help: the wait itself processes them. The thread
/// sleeps otherwise, takes each such socket's lock for one call, and ends
/// within 200 ms of the context's shutdown or drop.
///
/// # Limits
///
/// A context has at most [`max_sockets`](ContextBuilder::max_sockets)
/// sockets open at once (1023 by default); a closed socket frees its slot,
/// and its `inproc://` endpoints, shortly after its close, when libzmq's
/// reaper thread has destroyed it. The context uses one slot itself from
/// its first `inproc://` connection that waits for a bind (a monitor makes
/// one), for a socket that resolves such connections safely when it shuts
/// down.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmq_tokio::Result<()> {
/// use zmq_tokio::{Context, SocketType};
///
/// let ctx = Context::builder().io_threads(2).build()?;
/// let push = ctx.socket(SocketType::Push)?;
/// let pull = ctx.socket(SocketType::Pull)?;
/// pull.bind("inproc://work")?;
/// push.connect("inproc://work")?;
/// push.send("job 1").await?;
/// assert_eq!(pull.recv_string().await?, "job 1");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Context {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    /// `None` once [`Context::terminate`] has taken it, or while dropping.
    /// Socket creation holds the read lock; terminate takes the write lock.
    raw: RwLock<Option<RawContext>>,
    /// Cancelled by [`Context::shutdown`]; each socket's close token is a
    /// child of it.
    shutdown: CancellationToken,
    /// Set by [`Context::shutdown`]: a lock-free check for every socket
    /// operation (libzmq itself notices a shutdown only when it next
    /// processes commands, so an operation right after it could succeed).
    is_shutdown: AtomicBool,
    /// The context's sockets, so that `terminate` can close them.
    sockets: Mutex<Registry>,
    /// Its inproc endpoints and pending inproc connections.
    inproc: Inproc,
    /// Whether the sweeper thread has been started (see "Idle sockets").
    sweeping: AtomicBool,
}

/// How often the sweeper calls the context's idle sockets.
const SWEEP_INTERVAL: Duration = Duration::from_millis(200);

/// Weak references to a context's sockets; dead ones are pruned as it grows.
#[derive(Default)]
struct Registry {
    sockets: Vec<Weak<Core>>,
    prune_at: usize,
}

impl Context {
    /// A new context with one I/O thread.
    ///
    /// # Panics
    ///
    /// When libzmq cannot create a context (it is out of memory or file
    /// descriptors); [`Context::builder`] returns that as an error instead.
    pub fn new() -> Context {
        match Context::builder().build() {
            Ok(ctx) => ctx,
            Err(e) => panic!("cannot create a libzmq context: {e}"),
        }
    }

    /// A builder for a context with other settings.
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// The process-wide context that [`Socket::new`] uses, created on first
    /// use with one I/O thread. It is never terminated.
    ///
    /// # Panics
    ///
    /// Like [`Context::new`], when libzmq cannot create it.
    pub fn global() -> Context {
        static GLOBAL: OnceLock<Context> = OnceLock::new();
        GLOBAL.get_or_init(Context::new).clone()
    }

    /// A new socket of this context.
    ///
    /// # Errors
    ///
    /// [`Error::NoRuntime`] outside a Tokio runtime,
    /// [`Error::ContextTerminated`] after [`shutdown`](Context::shutdown),
    /// and [`Error::Zmq`] with errno `EMFILE` and a message naming the
    /// limit when the context has as many sockets as
    /// [`max_sockets`](ContextBuilder::max_sockets) allows (1023 by
    /// default). A closed or dropped socket frees its slot asynchronously:
    /// libzmq's reaper thread destroys it shortly after, so a socket made
    /// right after closing another at the limit can still fail.
    pub fn socket(&self, kind: SocketType) -> Result<Socket> {
        Socket::with_context(self, kind)
    }

    /// Shuts the context down, like `zmq_ctx_shutdown`: every pending and
    /// later operation on its sockets fails with
    /// [`Error::ContextTerminated`], every [`Socket::closed`] future of its
    /// sockets resolves, and no new socket can be made.
    pub fn shutdown(&self) {
        self.inner.is_shutdown.store(true, Ordering::Release);
        self.inner.shutdown.cancel();
        // While libzmq still binds: see Inproc::resolve_all.
        self.inner.inproc.resolve_all();
        if let Some(raw) = self.read_raw().as_ref() {
            raw.shutdown();
        }
    }

    /// Shuts the context down, closes every socket of it, and waits until
    /// libzmq has released it (`zmq_ctx_term`), on a thread of its own so
    /// that no runtime worker blocks. Messages sent before still have their
    /// sockets' `LINGER` period to be delivered, so this takes at most the
    /// longest linger (by default [`DEFAULT_LINGER_MS`](crate::DEFAULT_LINGER_MS)).
    ///
    /// Every handle of the context is terminated: later sockets cannot be
    /// made, and operations on the existing ones fail with
    /// [`Error::ContextTerminated`]. Calling it again returns at once.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if no thread could be started to run the termination.
    ///
    /// # Cancel safety
    ///
    /// Cancelling it does not stop the termination: the context is shut
    /// down and its sockets closed before the first `.await`, and libzmq's
    /// termination goes on in its thread.
    ///
    /// # Examples
    ///
    /// The graceful end of a service: stop, let sent messages go out, and
    /// wait until libzmq has released everything.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use zmq_tokio::{Context, Error, SocketType};
    ///
    /// let ctx = Context::new();
    /// let pull = ctx.socket(SocketType::Pull)?;
    /// pull.bind("inproc://terminate-example")?;
    /// let push = ctx.socket(SocketType::Push)?;
    /// push.connect("inproc://terminate-example")?;
    /// push.send("last words").await?;
    /// assert_eq!(pull.recv_string().await?, "last words");
    ///
    /// ctx.terminate().await?;
    /// assert!(matches!(pull.recv().await, Err(Error::ContextTerminated)));
    /// assert!(matches!(ctx.socket(SocketType::Pull), Err(Error::ContextTerminated)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn terminate(&self) -> Result<()> {
        self.shutdown();
        let raw = self
            .inner
            .raw
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // No socket can be made any more: close those there are, which
        // zmq_ctx_term would otherwise wait for.
        let sockets = std::mem::take(&mut self.registry().sockets);
        for core in sockets.iter().filter_map(Weak::upgrade) {
            core.close_for_termination();
        }
        let Some(raw) = raw else { return Ok(()) };
        let (done, finished) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("zmq-tokio-term".into())
            .spawn(move || {
                drop(raw);
                let _ = done.send(());
            })?;
        // The thread always sends before it ends; an error would mean it
        // panicked inside libzmq's term, after which there is nothing left
        // to wait for.
        let _ = finished.await;
        Ok(())
    }

    /// Whether [`shutdown`](Context::shutdown) has been called.
    pub fn is_shutdown(&self) -> bool {
        self.inner.is_shutdown.load(Ordering::Acquire)
    }

    fn read_raw(&self) -> std::sync::RwLockReadGuard<'_, Option<RawContext>> {
        self.inner
            .raw
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner
            .sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes a libzmq socket of this context.
    pub(crate) fn raw_socket(&self, kind: SocketType) -> Result<RawSocket> {
        match self.read_raw().as_ref() {
            Some(raw) => raw.socket(kind.raw()).map_err(|e| match e {
                crate::raw::EMFILE => too_many_sockets(raw, format!("create {kind} socket")),
                e => Error::zmq(e, format!("create {kind} socket")),
            }),
            None => Err(Error::ContextTerminated),
        }
    }

    /// Records a new socket, for `terminate` to close.
    pub(crate) fn register(&self, core: &Arc<Core>) {
        {
            let mut registry = self.registry();
            if registry.sockets.len() >= registry.prune_at {
                registry.sockets.retain(|weak| weak.strong_count() > 0);
                registry.prune_at = (registry.sockets.len() * 2).max(16);
            }
            registry.sockets.push(Arc::downgrade(core));
        }
        // A terminate that drained the registry before this insertion had
        // shut the context down first: close the socket ourselves.
        if self.is_shutdown() {
            core.close_for_termination();
        }
    }

    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Starts the sweeper thread (see "Idle sockets") unless it runs: at a
    /// socket's first successful bind, or when the context makes its own
    /// ROUTER for inproc connections that wait for a bind (which the
    /// sweeper calls too, see `Inproc::sweep`). Without a thread (the OS refused
    /// one), idle sockets keep their backlog until their next call, as in
    /// libzmq itself.
    pub(crate) fn start_sweeper(&self) {
        if self.inner.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let context = Arc::downgrade(&self.inner);
        let _ = std::thread::Builder::new()
            .name("zmq-tokio-sweep".into())
            .spawn(move || sweep(&context));
    }

    /// The table of the context's inproc endpoints.
    pub(crate) fn inproc(&self) -> &Inproc {
        &self.inner.inproc
    }

    /// libzmq's `EMFILE` from a call that makes a socket of this context
    /// (`zmq_socket_monitor` makes one), said as what it is.
    pub(crate) fn too_many_sockets(&self, operation: String) -> Error {
        match self.read_raw().as_ref() {
            Some(raw) => too_many_sockets(raw, operation),
            None => Error::ContextTerminated,
        }
    }
}

/// The sweeper: every [`SWEEP_INTERVAL`], reads `ZMQ_EVENTS` of the
/// context's own ROUTER ([`Inproc::sweep`]) and of each socket of the
/// context that has bound and that no task waits on ([`Core::sweep`]),
/// until the context is shut down or gone. It holds the context only while it collects the sockets,
/// and each socket only for its call.
fn sweep(context: &Weak<ContextInner>) {
    loop {
        std::thread::sleep(SWEEP_INTERVAL);
        let sockets: Vec<Arc<Core>> = {
            let Some(inner) = context.upgrade() else {
                return;
            };
            if inner.is_shutdown.load(Ordering::Acquire) {
                return;
            }
            inner.inproc.sweep();
            let registry = inner.sockets.lock().unwrap_or_else(PoisonError::into_inner);
            registry.sockets.iter().filter_map(Weak::upgrade).collect()
        };
        for core in sockets {
            core.sweep();
        }
    }
}

/// libzmq's `EMFILE` from `zmq_socket`, which reads "Too many open files",
/// said as what it is: the context's socket limit.
fn too_many_sockets(raw: &RawContext, operation: String) -> Error {
    let limit = raw
        .get(zmq_sys::ZMQ_MAX_SOCKETS as i32)
        .map_or_else(|| "its limit".to_owned(), |n| n.to_string());
    Error::Zmq {
        errno: crate::raw::EMFILE,
        message: format!(
            "the context has as many sockets as its MAX_SOCKETS limit ({limit}) allows \
             (closed sockets free their slot shortly after, on libzmq's reaper thread); \
             raise it with Context::builder().max_sockets(n)"
        ),
        operation: operation.into(),
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("shutdown", &self.is_shutdown())
            .finish_non_exhaustive()
    }
}

impl Drop for ContextInner {
    fn drop(&mut self) {
        let raw = self
            .raw
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(raw) = raw else { return };
        self.inproc.resolve_all();
        // zmq_ctx_term waits for lingering messages: never on a runtime
        // worker. Outside a runtime the caller's thread may block, as it
        // would with libzmq itself.
        if tokio::runtime::Handle::try_current().is_ok() {
            let spawned = std::thread::Builder::new()
                .name("zmq-tokio-term".into())
                .spawn(move || drop(raw));
            if let Err(e) = spawned {
                // No thread to wait on: leave the context to the process
                // rather than block the runtime.
                drop(e);
            }
        } else {
            drop(raw);
        }
    }
}

/// Settings for a new [`Context`], from [`Context::builder`].
#[derive(Debug, Default, Clone)]
pub struct ContextBuilder {
    io_threads: Option<usize>,
    max_sockets: Option<usize>,
}

impl ContextBuilder {
    /// The number of libzmq I/O threads (default 1). `0` is allowed for a
    /// context that uses only `inproc://`.
    pub fn io_threads(mut self, n: usize) -> Self {
        self.io_threads = Some(n);
        self
    }

    /// The most sockets the context may have open at once (libzmq's default
    /// is 1023). Closed sockets count until libzmq's reaper thread has
    /// destroyed them, shortly after their close. A monitor uses two more
    /// (the reader and libzmq's own monitor socket), and the context one
    /// for itself from its first `inproc://` connection made before
    /// anything bound the endpoint, or its first monitor (see
    /// [`Context`]'s "Limits"); at the limit, such a connection fails with
    /// `EMFILE` rather than leave libzmq's termination to abort.
    ///
    /// Many sockets connecting to one `tcp://` listener at once may also
    /// need its [`BACKLOG`](crate::options::BACKLOG) raised above libzmq's
    /// default of 100 (and the kernel's `net.core.somaxconn`, which caps
    /// it): connections beyond the backlog wait for libzmq's reconnect.
    pub fn max_sockets(mut self, n: usize) -> Self {
        self.max_sockets = Some(n);
        self
    }

    /// Creates the context.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a value libzmq cannot take, or libzmq's
    /// error when it cannot create a context.
    pub fn build(self) -> Result<Context> {
        let raw = RawContext::new().map_err(|e| Error::zmq(e, "create context"))?;
        let settings = [
            ("IO_THREADS", zmq_sys::ZMQ_IO_THREADS, self.io_threads),
            ("MAX_SOCKETS", zmq_sys::ZMQ_MAX_SOCKETS, self.max_sockets),
        ];
        for (name, option, value) in settings {
            let Some(value) = value else { continue };
            let value = i32::try_from(value).map_err(|_| {
                Error::invalid_option(name, format!("{value} is larger than {}", i32::MAX))
            })?;
            raw.set(option as i32, value).map_err(|e| {
                Error::invalid_option(
                    name,
                    format!("libzmq refused {value}: {}", crate::raw::strerror(e)),
                )
            })?;
        }
        Ok(Context {
            inner: Arc::new(ContextInner {
                raw: RwLock::new(Some(raw)),
                shutdown: CancellationToken::new(),
                is_shutdown: AtomicBool::new(false),
                sockets: Mutex::new(Registry::default()),
                inproc: Inproc::default(),
                sweeping: AtomicBool::new(false),
            }),
        })
    }
}
