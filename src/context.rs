//! The libzmq context: I/O threads and the sockets made from it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use crate::raw::RawContext;
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
    /// `None` only while being dropped.
    raw: Option<RawContext>,
    /// Cancelled by [`Context::shutdown`]; each socket's close token is a
    /// child of it.
    shutdown: CancellationToken,
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
    /// and libzmq's `EMFILE` when the context has as many sockets as
    /// `max_sockets` allows.
    pub fn socket(&self, kind: SocketType) -> Result<Socket> {
        Socket::with_context(self, kind)
    }

    /// Shuts the context down, like `zmq_ctx_shutdown`: every pending and
    /// later operation on its sockets fails with
    /// [`Error::ContextTerminated`], every [`Socket::closed`] future of its
    /// sockets resolves, and no new socket can be made.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.raw().shutdown();
    }

    /// Whether [`shutdown`](Context::shutdown) has been called.
    pub fn is_shutdown(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    pub(crate) fn raw(&self) -> &RawContext {
        match &self.inner.raw {
            Some(raw) => raw,
            None => unreachable!("the raw context is taken only in Drop"),
        }
    }

    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
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
        let Some(raw) = self.raw.take() else { return };
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
    /// is 1023).
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
                raw: Some(raw),
                shutdown: CancellationToken::new(),
            }),
        })
    }
}
