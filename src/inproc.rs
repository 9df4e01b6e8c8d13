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

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::readiness::Core;
use crate::{Error, Result};

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
    /// endpoint, until a bind there.
    pending: Vec<(String, Weak<Core>)>,
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
        let mut table = core.context().inproc().lock();
        table.prune();
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
                .any(|(e, c)| e == endpoint && Weak::ptr_eq(c, &me))
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
                    table.pending.retain(|(e, _)| e != endpoint);
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
                    table
                        .pending
                        .push((endpoint.to_owned(), Arc::downgrade(core)));
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
    /// The open socket bound to `endpoint`, if any.
    fn binder(&self, endpoint: &str) -> Option<Weak<Core>> {
        self.bound
            .iter()
            .find(|(e, core)| e == endpoint && open(core))
            .map(|(_, core)| core.clone())
    }

    /// Forgets closed and dropped sockets.
    fn prune(&mut self) {
        self.bound.retain(|(_, core)| open(core));
        self.pending.retain(|(_, core)| open(core));
    }
}

fn open(core: &Weak<Core>) -> bool {
    core.upgrade().is_some_and(|core| !core.is_closed())
}
