//! The `inproc://` endpoints of a context: which are bound, and which
//! connections still wait for a bind, so that no pending connection is
//! dropped.
//!
//! libzmq 4.3 keeps a connect to an unbound inproc endpoint as a pending
//! entry in the context (`ctx_t::pend_connection`): the connecting socket
//! makes both ends of the pipe pair at once, and the entry keeps raw
//! pointers to them until a socket binds the endpoint
//! (`ctx_t::connect_pending`) or the context terminates (which binds a
//! throwaway PAIR there). `zmq_disconnect` on that endpoint (and
//! `zmq_unbind`, which for inproc falls through to the same code when the
//! socket did not bind it) terminates both pipes through
//! `inprocs_t::erase_pipes`, but leaves the context's entry in place. The
//! later bind then writes the routing id into a terminated pipe (`Assertion
//! failed: written (pipe.cpp:87)`, an abort) or uses pipes already freed
//! (a segfault in `object_t::process_command`).
//!
//! The crate sees every inproc bind, connect, unbind and disconnect of its
//! sockets, so it keeps its own table per context, under one lock that
//! every inproc call of that context holds across its libzmq call, and
//! refuses to drop a connection that may still be pending. The table errs
//! only toward "pending": a binder counts only while its socket is open
//! (libzmq drops a closed socket's endpoints later, on its reaper thread),
//! and an endpoint bound by libzmq itself (a monitor's) is not in it. A
//! refused disconnect leaves the connection in place; it is dropped with
//! the socket, or can be disconnected once something has bound the
//! endpoint.
//!
//! A STREAM socket is kept off inproc altogether: `stream_t::xrecv` asserts
//! that a received message has one frame, which only its raw TCP and IPC
//! engines guarantee (`Assertion failed: (_prefetched_msg.flags () &
//! msg_t::more) == 0 (stream.cpp:201)`).
//!
//! The bind that resolves pending connections has two more ways to abort,
//! both in `ctx_t::connect_inproc_sockets`, which attaches each pending
//! pipe to the binder and then writes into it:
//!
//! - A PAIR binder keeps one pipe and terminates any other at once
//!   (`pair_t::xattach_pipe`); the binder's routing id, which libzmq then
//!   writes for a ROUTER or REP connector, finds that pipe terminated
//!   (`Assertion failed: written`). The crate refuses such a bind when the
//!   PAIR may already have a pipe (it has any endpoint) or more than one
//!   connection is pending there.
//! - The pipe of a connector closed while pending is already terminating.
//!   Any binder but ROUTER and REP reads the connector's routing id out of
//!   it (`Assertion failed: ok (ctx.cpp:809)`), and an XPUB writes its
//!   `XPUB_WELCOME_MSG` into it (`Assertion failed: ok (xpub.cpp:90)`).
//!   Before such a bind, the crate resolves the pending connections of
//!   closed sockets by binding and unbinding a throwaway ROUTER there (which
//!   does neither), and refuses the bind when closed and open connectors
//!   are mixed. `zmq_ctx_term` binds a PAIR at every endpoint still
//!   pending, so the context does the same for all of them before it
//!   terminates.
//!
//! That throwaway ROUTER is made once per context, with the first
//! connection that waits for a bind (a monitor's reader is one), and kept
//! until the context shuts down: `zmq_ctx_term` asserts that it can make
//! its PAIR sockets (`Assertion failed: s (ctx.cpp:169)`), which fails when
//! the context is at its `MAX_SOCKETS` limit, and closed sockets' slots come
//! back only later, on libzmq's reaper thread. A connection that would
//! wait for a bind is refused when the context has no room for that
//! ROUTER.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::raw::RawSocket;
use crate::socket::core::Core;
use crate::{Context, Error, Result, SocketType};

/// The endpoints [`Socket::monitor`](crate::Socket::monitor) uses.
const MONITOR_PREFIX: &str = "inproc://zmq-tokio-monitor-";

/// A context's inproc endpoints.
#[derive(Default)]
pub(crate) struct Inproc {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    /// Endpoints bound through [`Socket::bind`](crate::Socket::bind), and
    /// their binder.
    bound: Vec<(String, Weak<Core>)>,
    /// Connections made while nothing (known to be open) bound their
    /// endpoint, until a bind there, also after their socket closed (libzmq
    /// keeps them until then too).
    pending: Vec<Pending>,
    /// The context's own ROUTER (LINGER 0) that takes pending connections
    /// where no other socket safely can: bound and unbound again within
    /// one call of [`absorb`]. Made with the first connection that may wait
    /// for a bind ([`Table::reserve`]), closed when the context shuts down.
    absorber: Option<RawSocket>,
}

struct Pending {
    endpoint: String,
    socket: Weak<Core>,
    kind: SocketType,
}

/// What an inproc call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Bind,
    Connect,
    /// `zmq_unbind` or `zmq_disconnect`: for inproc, libzmq runs the same
    /// code for both (drop the binding if this socket has it, else drop
    /// the connections).
    Detach,
}

/// Held across one inproc call: the context's table stays locked, and is
/// brought up to date when the guard drops, from the socket's own list of
/// endpoints (which the call updates when it succeeds).
#[must_use]
pub(crate) struct Guard<'a> {
    state: Option<Held<'a>>,
}

struct Held<'a> {
    table: MutexGuard<'a, Table>,
    core: &'a Arc<Core>,
    endpoint: &'a str,
    op: Op,
}

impl Guard<'_> {
    /// Locks the table of `core`'s context for a call on `endpoint`, or
    /// does nothing when `endpoint` is not inproc.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEndpoint`] for a detach of a connection that may
    /// still be pending.
    pub(crate) fn lock<'a>(core: &'a Arc<Core>, endpoint: &'a str, op: Op) -> Result<Guard<'a>> {
        if !endpoint.starts_with("inproc://") {
            return Ok(Guard { state: None });
        }
        if core.kind() == SocketType::Stream && op != Op::Detach {
            // A STREAM socket asserts that no message it receives has more
            // frames (stream_t::xrecv), which only a raw TCP or IPC peer
            // guarantees; an inproc peer sending two frames aborts it.
            return Err(Error::invalid_endpoint(
                endpoint,
                "a STREAM socket talks to raw tcp:// or ipc:// peers; over inproc, libzmq 4.3 \
                 aborts when a peer sends it a multipart message",
            ));
        }
        if endpoint.starts_with(MONITOR_PREFIX) {
            // libzmq binds these itself (zmq_socket_monitor), right after
            // the monitor's reader connects: nothing to record, and no
            // other socket may drop a connection there.
            if op == Op::Detach {
                return Err(Error::invalid_endpoint(
                    endpoint,
                    "the endpoint belongs to a monitor of this crate",
                ));
            }
            if op == Op::Connect {
                // Pending until libzmq binds, and for good if the monitor
                // fails to start (then `Inproc::absorb_now` takes it).
                let ctx = core.context();
                ctx.inproc().lock().reserve(ctx, endpoint)?;
            }
            return Ok(Guard { state: None });
        }
        let mut table = core.context().inproc().lock();
        table.prune();
        if op == Op::Bind {
            table.check_bind(core, endpoint)?;
        }
        if op == Op::Connect && table.binder(endpoint).is_none() {
            table.reserve(core.context(), endpoint)?;
        }
        if op == Op::Detach {
            let me = Arc::downgrade(core);
            if table
                .binder(endpoint)
                .is_some_and(|b| Weak::ptr_eq(&b, &me))
            {
                // libzmq drops the binding and leaves connections alone.
                table.bound.retain(|(e, _)| e != endpoint);
            } else if table
                .pending
                .iter()
                .any(|p| p.endpoint == endpoint && Weak::ptr_eq(&p.socket, &me))
            {
                return Err(Error::invalid_endpoint(
                    endpoint,
                    "the connection is still pending (nothing has bound the endpoint yet), \
                     and libzmq cannot drop a pending inproc connection safely; \
                     close the socket instead, or disconnect after a bind",
                ));
            }
        }
        Ok(Guard {
            state: Some(Held {
                table,
                core,
                endpoint,
                op,
            }),
        })
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let Some(held) = self.state.as_mut() else {
            return;
        };
        let Held {
            table,
            core,
            endpoint,
            op,
        } = held;
        if core.is_closed() {
            return;
        }
        let endpoint = *endpoint;
        match op {
            Op::Bind => {
                // Bound now (or before, by this very socket): libzmq has
                // attached every pending connection to it.
                if core.endpoints().bound.iter().any(|e| e == endpoint) {
                    table.pending.retain(|p| p.endpoint != endpoint);
                    if table.binder(endpoint).is_none() {
                        table
                            .bound
                            .push((endpoint.to_owned(), Arc::downgrade(core)));
                    }
                }
            }
            Op::Connect => {
                // Looked at after the connect: a binder still open now was
                // open (so still registered) when libzmq looked it up. On a
                // failed connect the entry is harmless: it can only refuse.
                if table.binder(endpoint).is_none() {
                    table.pending.push(Pending {
                        endpoint: endpoint.to_owned(),
                        socket: Arc::downgrade(core),
                        kind: core.kind(),
                    });
                }
            }
            Op::Detach => {}
        }
    }
}

impl Inproc {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Table {
    /// Makes the absorber ROUTER unless it exists, before a connect to
    /// `endpoint` that may wait for a bind.
    ///
    /// # Errors
    ///
    /// `EMFILE` naming the context's limit when the context has no room
    /// for it; [`Error::ContextTerminated`] after its shutdown.
    fn reserve(&mut self, ctx: &Context, endpoint: &str) -> Result<()> {
        if self.absorber.is_some() {
            return Ok(());
        }
        if ctx.is_shutdown() {
            // `Inproc::resolve_all` has closed the absorber for good (the
            // table's lock orders this read after the shutdown's store).
            return Err(Error::ContextTerminated);
        }
        let router = ctx.raw_socket(SocketType::Router).map_err(|e| match e {
            Error::Zmq {
                errno: crate::raw::EMFILE,
                ..
            } => ctx.too_many_sockets(format!(
                "connect {endpoint} (a connection that waits for a bind needs one socket \
                 of the context's own, made once)"
            )),
            e => e,
        })?;
        // Never lingers: it holds no messages of its own.
        let _ = router.set_int(zmq_sys::ZMQ_LINGER as std::ffi::c_int, 0);
        self.absorber = Some(router);
        // The pipes it takes end only when it processes their commands:
        // the sweeper makes it (see `Inproc::sweep`).
        ctx.start_sweeper();
        Ok(())
    }

    /// Lets the absorber take the pending connections of `endpoint`;
    /// whether it did.
    fn absorb(&self, endpoint: &str) -> bool {
        self.absorber
            .as_ref()
            .is_some_and(|router| absorb(router, endpoint))
    }

    /// The open socket bound to `endpoint`, if any.
    fn binder(&self, endpoint: &str) -> Option<Weak<Core>> {
        self.bound
            .iter()
            .find(|(e, core)| e == endpoint && open(core))
            .map(|(_, core)| core.clone())
    }

    /// Forgets bindings of closed and dropped sockets.
    fn prune(&mut self) {
        self.bound.retain(|(_, core)| open(core));
    }

    /// Refuses a bind that would make libzmq abort while it attaches the
    /// pending connections of `endpoint` (see the module docs), and
    /// resolves those of closed sockets before an XPUB binds.
    fn check_bind(&mut self, core: &Core, endpoint: &str) -> Result<()> {
        if self.binder(endpoint).is_some() {
            return Ok(()); // libzmq refuses it with EADDRINUSE
        }
        let pending = || self.pending.iter().filter(|p| p.endpoint == endpoint);
        if core.kind() == SocketType::Pair {
            let count = pending().count();
            let has_pipe = {
                let endpoints = core.endpoints();
                !endpoints.bound.is_empty() || !endpoints.connected.is_empty()
            };
            let routing = pending()
                .any(|p| open(&p.socket) && matches!(p.kind, SocketType::Router | SocketType::Rep));
            if routing && (has_pipe || count > 1) {
                return Err(Error::invalid_endpoint(
                    endpoint,
                    "a PAIR socket that may already have its peer cannot bind an inproc \
                     endpoint where a ROUTER or REP connection is pending: libzmq 4.3 \
                     would abort attaching it",
                ));
            }
        }
        // Connections of closed sockets: libzmq reads the connector's
        // routing id out of the terminating pipe (`Assertion failed: ok
        // (ctx.cpp:809)`) for any binder but ROUTER and REP, and an XPUB
        // writes its welcome message into it. Resolve them first with a
        // throwaway ROUTER, which does neither.
        let closed = pending().filter(|p| !open(&p.socket)).count();
        if closed == 0 || matches!(core.kind(), SocketType::Router | SocketType::Rep) {
            return Ok(());
        }
        if closed < pending().count() {
            return Err(Error::invalid_endpoint(
                endpoint,
                "connections of both closed and open sockets are pending at this inproc \
                 endpoint, and libzmq 4.3 would abort attaching the closed ones to a \
                 socket of this type; bind it with a ROUTER or REP socket, or close the \
                 other connecting sockets first",
            ));
        }
        if !self.absorb(endpoint) {
            return Err(Error::invalid_endpoint(
                endpoint,
                "connections of closed sockets are pending at this inproc endpoint, and the \
                 socket that takes them first could not bind it; libzmq 4.3 would abort \
                 attaching them to a socket of this type",
            ));
        }
        self.pending.retain(|p| p.endpoint != endpoint);
        Ok(())
    }
}

fn open(core: &Weak<Core>) -> bool {
    core.upgrade().is_some_and(|core| !core.is_closed())
}

/// Resolves the pending connections of `endpoint` by binding the
/// absorber ROUTER there and unbinding it at once (the unbind takes the
/// endpoint back synchronously). A ROUTER neither reads the connector's
/// routing id out of the pipe nor writes into it (libzmq skips the write
/// for a closed connector).
/// Whether the ROUTER took the endpoint's pending connections.
fn absorb(router: &RawSocket, endpoint: &str) -> bool {
    let Ok(c_endpoint) = crate::raw::c_string(endpoint) else {
        return false;
    };
    let bound = router.bind(&c_endpoint).is_ok();
    if bound {
        let _ = router.unbind(&c_endpoint);
    }
    bound
}

impl Inproc {
    /// For the context's sweeper: lets the absorber process its commands.
    /// The pipes it took from closed connectors end only then, and until
    /// they do, libzmq cannot destroy those connectors (nor give back their
    /// slots).
    pub(crate) fn sweep(&self) {
        if let Some(router) = &self.lock().absorber {
            let _ = router.events();
        }
    }

    /// Resolves the pending connections of `endpoint` now, with the
    /// absorber: for a monitor whose reader connected but which libzmq then
    /// failed to start (nothing will bind there).
    pub(crate) fn absorb_now(&self, endpoint: &str) {
        self.lock().absorb(endpoint);
    }

    /// Resolves every pending connection and closes the absorber: before
    /// `zmq_ctx_term`, which would otherwise bind a PAIR socket at each of
    /// them (reading routing ids out of closed sockets' pipes, see
    /// [`Table::check_bind`], and asserting that it can make that socket).
    /// Called at the context's shutdown, while libzmq still binds (after
    /// it, no socket of the context can connect or bind again), and before
    /// the termination of a context that was never shut down.
    pub(crate) fn resolve_all(&self) {
        let mut table = self.lock();
        let mut endpoints: Vec<String> = table.pending.drain(..).map(|p| p.endpoint).collect();
        endpoints.sort_unstable();
        endpoints.dedup();
        for endpoint in &endpoints {
            table.absorb(endpoint);
        }
        table.absorber = None;
    }
}
