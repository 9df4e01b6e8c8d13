//! Context settings read back, and the errno of a full context.

#![allow(unsafe_code)]

use std::ffi::c_int;

use super::{sys, Errno, RawContext};

pub(crate) const EMFILE: Errno = sys::errno::EMFILE;

impl RawContext {
    /// A context setting (`zmq_ctx_get`), such as `ZMQ_MAX_SOCKETS`; `None`
    /// when libzmq does not know it.
    pub(crate) fn get(&self, option: c_int) -> Option<c_int> {
        // SAFETY: self.0 is a live context; zmq_ctx_get is thread-safe and
        // returns -1 for an unknown option.
        let value = unsafe { sys::zmq_ctx_get(self.0.as_ptr(), option) };
        (value >= 0).then_some(value)
    }
}
