//! The raw FFI layer: the only module of the crate that contains `unsafe`.
//!
//! Each type here owns exactly one libzmq object and frees it in `Drop`:
//! [`RawContext`] a context, [`RawSocket`] a socket, [`RawMsg`] a message.
//! Everything above this module is safe Rust that calls these wrappers; the
//! wrappers return plain errno values and leave the error type to
//! `error.rs`.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void, CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use zmq_sys as sys;

/// CURVE keys and Z85 text.
pub(crate) mod curve;
mod lock;
mod settings;

pub(crate) use lock::{SocketGuard, SocketLock, Stamp};
pub(crate) use settings::EMFILE;

/// An errno value as libzmq reports it.
pub(crate) type Errno = c_int;

/// Frames of this many bytes or fewer live inside the `zmq_msg_t` itself
/// (libzmq's `max_vsm_size` on 64-bit targets). Copying them costs nothing
/// next to the FFI call.
pub(crate) const MAX_VSM_SIZE: usize = 33;

/// The base of libzmq's own errno values (`ZMQ_HAUSNUMERO` in zmq.h).
pub(crate) const ZMQ_HAUSNUMERO: Errno = 156_384_712;

pub(crate) const EAGAIN: Errno = sys::errno::EAGAIN;
pub(crate) const EINTR: Errno = sys::errno::EINTR;
pub(crate) const ETERM: Errno = sys::errno::ETERM;
pub(crate) const ENOTSOCK: Errno = sys::errno::ENOTSOCK;
pub(crate) const EINVAL: Errno = sys::errno::EINVAL;

pub(crate) const DONTWAIT: c_int = sys::ZMQ_DONTWAIT as c_int;
pub(crate) const SNDMORE: c_int = sys::ZMQ_SNDMORE as c_int;
pub(crate) const POLLIN: c_int = sys::ZMQ_POLLIN as c_int;
pub(crate) const POLLOUT: c_int = sys::ZMQ_POLLOUT as c_int;

/// The calling thread's last libzmq errno.
fn last_errno() -> Errno {
    // SAFETY: zmq_errno only reads the thread-local errno.
    unsafe { sys::zmq_errno() }
}

/// libzmq's description of an errno value, copied out of libzmq.
pub(crate) fn strerror(errno: Errno) -> String {
    // SAFETY: zmq_strerror returns a valid NUL-terminated string for any
    // value (libzmq's own texts are literals; others come from the C
    // library's strerror, whose buffer we copy before any other call).
    let text = unsafe { CStr::from_ptr(sys::zmq_strerror(errno)) };
    text.to_string_lossy().into_owned()
}

/// Maps a libzmq return code to `Ok` or the errno.
fn check(rc: c_int) -> Result<(), Errno> {
    if rc == -1 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// The linked libzmq's version.
pub(crate) fn version() -> (i32, i32, i32) {
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: zmq_version writes three ints through valid pointers.
    unsafe { sys::zmq_version(&mut major, &mut minor, &mut patch) };
    (major, minor, patch)
}

/// Whether the linked libzmq supports a capability (`zmq_has`).
pub(crate) fn has(capability: &CStr) -> bool {
    // SAFETY: capability is a valid NUL-terminated string for the call.
    unsafe { sys::zmq_has(capability.as_ptr()) == 1 }
}

// ---------------------------------------------------------------------------
// Context

/// An owned libzmq context. Dropping it runs `zmq_ctx_term`, which blocks
/// until every socket of the context is closed and has lingered: drop it
/// off the async runtime.
#[derive(Debug)]
pub(crate) struct RawContext(NonNull<c_void>);

// SAFETY: libzmq contexts are thread-safe: every zmq_ctx_* function and
// zmq_socket may be called from any thread concurrently.
unsafe impl Send for RawContext {}
// SAFETY: as above, all operations through &RawContext are thread-safe.
unsafe impl Sync for RawContext {}

impl RawContext {
    pub(crate) fn new() -> Result<Self, Errno> {
        // SAFETY: zmq_ctx_new has no preconditions; NULL means failure.
        let ptr = unsafe { sys::zmq_ctx_new() };
        NonNull::new(ptr).map(Self).ok_or_else(last_errno)
    }

    pub(crate) fn set(&self, option: c_int, value: c_int) -> Result<(), Errno> {
        // SAFETY: self.0 is a live context; zmq_ctx_set is thread-safe.
        check(unsafe { sys::zmq_ctx_set(self.0.as_ptr(), option, value) })
    }

    /// Makes every blocking or later operation on this context's sockets
    /// fail with ETERM and signals every socket's fd.
    pub(crate) fn shutdown(&self) {
        // SAFETY: self.0 is a live context. The only documented error is
        // EFAULT for an invalid context, which self.0 is not.
        unsafe { sys::zmq_ctx_shutdown(self.0.as_ptr()) };
    }

    pub(crate) fn socket(&self, kind: c_int) -> Result<RawSocket, Errno> {
        // SAFETY: self.0 is a live context; NULL means failure.
        let ptr = unsafe { sys::zmq_socket(self.0.as_ptr(), kind) };
        NonNull::new(ptr).map(RawSocket).ok_or_else(last_errno)
    }
}

impl Drop for RawContext {
    fn drop(&mut self) {
        loop {
            // SAFETY: self.0 is a live context, terminated exactly once here;
            // after EINTR the context is still live and term is retried.
            let rc = unsafe { sys::zmq_ctx_term(self.0.as_ptr()) };
            if rc == 0 || last_errno() != EINTR {
                break;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Socket

/// An owned libzmq socket; `Drop` closes it. `zmq_close` never blocks: the
/// context's reaper thread takes over what is left to linger.
#[derive(Debug)]
pub(crate) struct RawSocket(NonNull<c_void>);

// SAFETY: a libzmq socket may migrate between threads when each move has a
// full memory barrier. RawSocket is not Sync, so every use from several
// threads goes through a SocketLock, whose acquire/release pair orders each
// holder's use before the next holder's.
unsafe impl Send for RawSocket {}

/// Converts text for libzmq, rejecting interior NUL bytes.
pub(crate) fn c_string(text: &str) -> Result<CString, Errno> {
    CString::new(text).map_err(|_| EINVAL)
}

impl RawSocket {
    fn ptr(&self) -> *mut c_void {
        self.0.as_ptr()
    }

    pub(crate) fn bind(&self, endpoint: &CStr) -> Result<(), Errno> {
        // SAFETY: live socket, NUL-terminated endpoint valid for the call.
        check(unsafe { sys::zmq_bind(self.ptr(), endpoint.as_ptr()) })
    }

    pub(crate) fn connect(&self, endpoint: &CStr) -> Result<(), Errno> {
        // SAFETY: live socket, NUL-terminated endpoint valid for the call.
        check(unsafe { sys::zmq_connect(self.ptr(), endpoint.as_ptr()) })
    }

    pub(crate) fn unbind(&self, endpoint: &CStr) -> Result<(), Errno> {
        // SAFETY: live socket, NUL-terminated endpoint valid for the call.
        check(unsafe { sys::zmq_unbind(self.ptr(), endpoint.as_ptr()) })
    }

    pub(crate) fn disconnect(&self, endpoint: &CStr) -> Result<(), Errno> {
        // SAFETY: live socket, NUL-terminated endpoint valid for the call.
        check(unsafe { sys::zmq_disconnect(self.ptr(), endpoint.as_ptr()) })
    }

    /// Sends one frame. On success libzmq has taken the content and left
    /// `msg` empty, and `Ok` has the frame's size in bytes (capped at
    /// `i32::MAX` by libzmq); on failure `msg` is unchanged.
    pub(crate) fn send(&self, msg: &mut RawMsg, flags: c_int) -> Result<usize, Errno> {
        // SAFETY: live socket; msg.msg is an initialised zmq_msg_t we hold
        // exclusively (&mut), which libzmq may nullify.
        let rc = unsafe { sys::zmq_msg_send(msg.msg.get_mut(), self.ptr(), flags) };
        if rc == -1 {
            Err(last_errno())
        } else {
            // libzmq nullified it: an empty message, not shared, that
            // needs no close.
            msg.set_state(SENT);
            // Not -1, so not negative: a size.
            Ok(rc as usize)
        }
    }

    /// Receives one frame into `msg` (whose old content libzmq releases);
    /// `Ok` has its size in bytes (capped at `i32::MAX` by libzmq).
    pub(crate) fn recv(&self, msg: &mut RawMsg, flags: c_int) -> Result<usize, Errno> {
        // SAFETY: live socket; msg.msg is an initialised zmq_msg_t we hold
        // exclusively (&mut).
        let rc = unsafe { sys::zmq_msg_recv(msg.msg.get_mut(), self.ptr(), flags) };
        // The old content was released and the new one is not shared yet;
        // record the `more` flag while we have exclusive access.
        let state = if rc != -1 && msg.read_more() { MORE } else { 0 };
        msg.set_state(state);
        if rc == -1 {
            Err(last_errno())
        } else {
            // Not -1, so not negative: a size.
            Ok(rc as usize)
        }
    }

    fn get_raw<T: Copy + Default>(&self, option: c_int) -> Result<T, Errno> {
        let mut value = T::default();
        let mut len = std::mem::size_of::<T>();
        // SAFETY: live socket; value is a writable buffer of len bytes.
        check(unsafe {
            sys::zmq_getsockopt(
                self.ptr(),
                option,
                (&mut value as *mut T).cast::<c_void>(),
                &mut len,
            )
        })?;
        Ok(value)
    }

    pub(crate) fn get_int(&self, option: c_int) -> Result<c_int, Errno> {
        self.get_raw::<c_int>(option)
    }

    pub(crate) fn get_i64(&self, option: c_int) -> Result<i64, Errno> {
        self.get_raw::<i64>(option)
    }

    pub(crate) fn get_u64(&self, option: c_int) -> Result<u64, Errno> {
        self.get_raw::<u64>(option)
    }

    /// Reads a binary or text option of at most `capacity` bytes.
    pub(crate) fn get_bytes(&self, option: c_int, capacity: usize) -> Result<Vec<u8>, Errno> {
        let mut buf = vec![0u8; capacity];
        let mut len = capacity;
        // SAFETY: live socket; buf is a writable buffer of len bytes, and
        // libzmq writes back how many it used (never more than len).
        check(unsafe {
            sys::zmq_getsockopt(self.ptr(), option, buf.as_mut_ptr().cast(), &mut len)
        })?;
        buf.truncate(len);
        Ok(buf)
    }

    fn set_raw(&self, option: c_int, value: *const c_void, len: usize) -> Result<(), Errno> {
        // SAFETY: live socket; callers pass a pointer to len readable bytes.
        check(unsafe { sys::zmq_setsockopt(self.ptr(), option, value, len) })
    }

    pub(crate) fn set_int(&self, option: c_int, value: c_int) -> Result<(), Errno> {
        self.set_raw(
            option,
            (&value as *const c_int).cast(),
            std::mem::size_of::<c_int>(),
        )
    }

    pub(crate) fn set_i64(&self, option: c_int, value: i64) -> Result<(), Errno> {
        self.set_raw(
            option,
            (&value as *const i64).cast(),
            std::mem::size_of::<i64>(),
        )
    }

    pub(crate) fn set_u64(&self, option: c_int, value: u64) -> Result<(), Errno> {
        self.set_raw(
            option,
            (&value as *const u64).cast(),
            std::mem::size_of::<u64>(),
        )
    }

    /// Sets a binary or text option. libzmq 4.3 takes an empty value for
    /// SOCKS_PROXY, BINDTODEVICE (cleared), PLAIN_USERNAME and
    /// PLAIN_PASSWORD (back to the NULL mechanism) only as NULL and 0, and
    /// refuses a pointer with 0; other options get the slice's pointer even
    /// when empty (SUBSCRIBE copies from it).
    pub(crate) fn set_bytes(&self, option: c_int, value: &[u8]) -> Result<(), Errno> {
        let empty_is_null = matches!(
            option as u32,
            sys::ZMQ_SOCKS_PROXY
                | sys::ZMQ_BINDTODEVICE
                | sys::ZMQ_PLAIN_USERNAME
                | sys::ZMQ_PLAIN_PASSWORD
        );
        let ptr = if value.is_empty() && empty_is_null {
            std::ptr::null()
        } else {
            value.as_ptr().cast::<c_void>()
        };
        // SAFETY: live socket; `ptr` points to value.len() readable bytes
        // that libzmq copies during the call, or is NULL with a length of 0:
        // libzmq reads nothing through a pointer whose length is 0 (for
        // these four options it tests for NULL and 0 first).
        check(unsafe { sys::zmq_setsockopt(self.ptr(), option, ptr, value.len()) })
    }

    /// Starts (`Some(endpoint)`) or stops (`None`) publishing this socket's
    /// events on a PAIR socket that libzmq binds at the inproc `endpoint`.
    /// libzmq's I/O threads write to that PAIR with blocking sends: its
    /// reader must connect at once and keep reading, and monitoring must be
    /// stopped before the reader closes.
    pub(crate) fn monitor(&self, endpoint: Option<&CStr>, events: c_int) -> Result<(), Errno> {
        let endpoint = endpoint.map_or(std::ptr::null(), CStr::as_ptr);
        // SAFETY: live socket; endpoint is NULL (stop) or a NUL-terminated
        // string valid for the call, which libzmq copies.
        check(unsafe { sys::zmq_socket_monitor(self.ptr(), endpoint, events) })
    }

    /// `ZMQ_EVENTS`: which of POLLIN/POLLOUT the socket can do now. Reading
    /// it processes the socket's pending commands, which drains the mailbox
    /// and re-arms the `ZMQ_FD` edge.
    pub(crate) fn events(&self) -> Result<c_int, Errno> {
        self.get_int(sys::ZMQ_EVENTS as c_int)
    }

    /// Registers a duplicate of the socket's `ZMQ_FD` with the current Tokio
    /// reactor, for readability only (the fd is never writable).
    ///
    /// The duplicate is ours: it keeps the underlying eventfd open for as
    /// long as the `AsyncFd` lives, whatever happens to the libzmq socket,
    /// so closing the socket can never leave a registration on an fd number
    /// that the process reuses for something else.
    pub(crate) fn register_fd(&self) -> Result<AsyncFd<OwnedFd>, RegisterError> {
        let fd: RawFd = self
            .get_int(sys::ZMQ_FD as c_int)
            .map_err(|e| RegisterError::Io(io::Error::from_raw_os_error(e)))?;
        // SAFETY: libzmq keeps ZMQ_FD open until the socket is closed, and
        // we hold the socket (&self) for the whole borrow, which ends once
        // the duplicate is made.
        let owned = unsafe { BorrowedFd::borrow_raw(fd) }
            .try_clone_to_owned()
            .map_err(RegisterError::Io)?;
        // Tokio panics instead of failing when the current runtime has no
        // I/O driver; there is no other way to ask, so catch that, without
        // the panic hook printing Tokio's message.
        let registered = quiet::catch_quietly(move || {
            // SAFETY: `owned` is an open fd that the AsyncFd owns from here
            // on: nobody else can close it, and OwnedFd::as_raw_fd always
            // returns that same fd, as register_with_interest requires.
            unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
        });
        match registered {
            Ok(result) => result.map_err(|e| RegisterError::Io(e.into_parts().1)),
            Err(_) => Err(RegisterError::NoIoDriver),
        }
    }
}

impl Drop for RawSocket {
    fn drop(&mut self) {
        // SAFETY: self.0 is a live socket, closed exactly once here.
        // zmq_close does not block; it can only fail with ENOTSOCK, which a
        // live socket is not.
        unsafe { sys::zmq_close(self.ptr()) };
    }
}

/// Why a socket's fd could not be registered with the reactor.
#[derive(Debug)]
pub(crate) enum RegisterError {
    /// The current Tokio runtime was built without I/O.
    NoIoDriver,
    Io(io::Error),
}

/// Returns the fd number an `AsyncFd` watches (for `Debug` output).
pub(crate) fn fd_number(fd: &AsyncFd<OwnedFd>) -> RawFd {
    fd.get_ref().as_raw_fd()
}

// ---------------------------------------------------------------------------
// Message

/// Serialises the first sharing of large messages (see [`RawMsg::share`]).
static SHARE_LOCK: Mutex<()> = Mutex::new(());

/// An owned, initialised `zmq_msg_t`; `Drop` closes it.
///
/// `zmq_msg_t` is `Copy` in `zmq-sys`, but a bitwise copy would duplicate
/// ownership; this wrapper is neither `Copy` nor `Clone` and hands out the
/// inner struct only by reference.
pub(crate) struct RawMsg {
    /// In an `UnsafeCell` because libzmq writes through shared access in
    /// one case: the first `zmq_msg_copy` marks the content as shared.
    msg: UnsafeCell<sys::zmq_msg_t>,
    /// [`SHARED`] once libzmq has marked the content as shared (reference
    /// counted), after which `zmq_msg_copy` only reads `msg` and bumps an
    /// atomic counter; [`MORE`] if more frames followed this one when it
    /// was received; [`SENT`] once libzmq has sent it. One word, always written whole: a narrower store just
    /// before the message is moved would stall the move's wide loads
    /// (store forwarding fails), which showed in profiles of the receive
    /// path.
    state: AtomicUsize,
}

/// [`RawMsg::state`]: the content is shared.
const SHARED: usize = 1;
/// [`RawMsg::state`]: more frames followed this one.
const MORE: usize = 2;
/// [`RawMsg::state`], alone: libzmq has sent the message. A successful
/// `zmq_msg_send` nullifies it (an empty message with no content or
/// metadata), and zmq_msg_close(3) says closing it is then not necessary,
/// so `Drop` skips the call. Marking it here, rather than forgetting the
/// message where it was sent, spares a move of the whole message right
/// after libzmq's narrow writes to it (a store-forwarding stall that showed
/// in profiles of the send path).
const SENT: usize = 4;

// SAFETY: a message's content is either inline, a reference-counted buffer
// with an atomic count, or a buffer owned by a `Send` owner (see
// `from_bytes`); libzmq itself passes messages between threads.
unsafe impl Send for RawMsg {}
// SAFETY: through &RawMsg we only read the message (data, size, metadata),
// except in `try_clone`, whose one write (the first sharing, through the
// UnsafeCell) is serialised by SHARE_LOCK and touches only libzmq's flag
// byte and the content's atomic counter: `data`, `len` and `gets` read
// neither, and libzmq's `more` flag is read only through &mut (`read_more`).
unsafe impl Sync for RawMsg {}

/// What libzmq holds on to for a zero-copy frame; freed by [`free_owner`].
type Owner = Bytes;

/// libzmq's free callback for zero-copy frames. It may run on any thread:
/// an I/O thread after a TCP write, the receiving thread for inproc, or
/// inside `zmq_msg_close`.
unsafe extern "C" fn free_owner(_data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the Box<Owner> leaked in RawMsg::from_bytes, and
    // libzmq calls the free function exactly once per content.
    let owner = unsafe { Box::from_raw(hint.cast::<Owner>()) };
    // A panic must not unwind into C. Nothing is left to resume it on (this
    // may be a libzmq I/O thread): the panic hook has reported it, and the
    // frame's memory has been released as far as the owner allowed.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(owner)));
}

impl RawMsg {
    fn wrap(msg: sys::zmq_msg_t) -> Self {
        Self {
            msg: UnsafeCell::new(msg),
            state: AtomicUsize::new(0),
        }
    }

    /// An empty message.
    pub(crate) fn new() -> Self {
        let mut msg = sys::zmq_msg_t::default();
        // SAFETY: msg is writable; zmq_msg_init cannot fail.
        unsafe { sys::zmq_msg_init(&mut msg) };
        Self::wrap(msg)
    }

    /// Puts an empty message into `slot` and initialises it there, so that
    /// no move of the message follows libzmq's (narrow) writes: the
    /// receive path's fresh frame.
    pub(crate) fn init_in<T>(
        slot: &mut Option<T>,
        wrap: impl FnOnce(RawMsg) -> T,
        raw: impl FnOnce(&mut T) -> &mut RawMsg,
    ) -> &mut T {
        let placeholder = RawMsg {
            msg: UnsafeCell::new(sys::zmq_msg_t::default()),
            state: AtomicUsize::new(0),
        };
        let value = slot.insert(wrap(placeholder));
        let inner = raw(value);
        // SAFETY: the message is ours and not yet initialised (all zeros);
        // zmq_msg_init cannot fail. Nothing runs between the insert and
        // this call, so the all-zero message is never used or dropped
        // (were it dropped, zmq_msg_close would only report EFAULT: libzmq
        // checks a message's type before touching it).
        unsafe { sys::zmq_msg_init(inner.msg.get_mut()) };
        value
    }

    /// A message holding a copy of `data`.
    pub(crate) fn copy_from(data: &[u8]) -> Self {
        let mut msg = sys::zmq_msg_t::default();
        // SAFETY: msg is writable; on success libzmq gives it data.len()
        // writable bytes.
        let rc = unsafe { sys::zmq_msg_init_size(&mut msg, data.len()) };
        if rc == -1 {
            // The only failure is ENOMEM.
            std::alloc::handle_alloc_error(
                std::alloc::Layout::from_size_align(data.len().max(1), 1)
                    .unwrap_or(std::alloc::Layout::new::<u8>()),
            );
        }
        if !data.is_empty() {
            // SAFETY: the message owns data.len() writable bytes, which
            // cannot overlap `data` (libzmq just allocated or embedded them).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    data.as_ptr(),
                    sys::zmq_msg_data(&mut msg).cast::<u8>(),
                    data.len(),
                )
            };
        }
        Self::wrap(msg)
    }

    /// A message that points into `bytes` without copying; libzmq drops
    /// `bytes` through [`free_owner`] once every holder is done with it.
    pub(crate) fn from_bytes(bytes: Bytes) -> Self {
        let data = bytes.as_ptr().cast_mut().cast::<c_void>();
        let len = bytes.len();
        let hint = Box::into_raw(Box::new(bytes));
        let mut msg = sys::zmq_msg_t::default();
        // SAFETY: `data` points to `len` bytes that live as long as the
        // boxed owner `hint`, which libzmq hands to free_owner exactly once.
        // libzmq never writes into a message's data, and neither do we (no
        // &mut access to frame data is ever given out).
        let rc =
            unsafe { sys::zmq_msg_init_data(&mut msg, data, len, Some(free_owner), hint.cast()) };
        if rc == -1 {
            // ENOMEM before libzmq took the owner: free it ourselves.
            // SAFETY: libzmq did not take `hint`; we still own the box.
            drop(unsafe { Box::from_raw(hint) });
            std::alloc::handle_alloc_error(std::alloc::Layout::new::<[usize; 4]>());
        }
        Self::wrap(msg)
    }

    /// A message that points into static data: no copy, no free callback.
    pub(crate) fn from_static(data: &'static [u8]) -> Self {
        let mut msg = sys::zmq_msg_t::default();
        // SAFETY: the data lives forever and is never written; with a NULL
        // free function libzmq makes a constant message and cannot fail.
        unsafe {
            sys::zmq_msg_init_data(
                &mut msg,
                data.as_ptr().cast_mut().cast(),
                data.len(),
                None,
                std::ptr::null_mut(),
            )
        };
        Self::wrap(msg)
    }

    /// The message for libzmq. Its accessors take a mutable pointer but
    /// only read; the one writer through shared access is `try_clone`.
    fn msg_ptr(&self) -> *mut sys::zmq_msg_t {
        self.msg.get()
    }

    /// The frame's bytes.
    pub(crate) fn data(&self) -> &[u8] {
        let len = self.len();
        if len == 0 {
            return &[];
        }
        // SAFETY: zmq_msg_data only reads the initialised message and
        // returns a pointer to its `len` bytes, which stay valid and
        // unchanged while we hold &self (inline data moves only with self).
        unsafe { std::slice::from_raw_parts(sys::zmq_msg_data(self.msg_ptr()).cast::<u8>(), len) }
    }

    pub(crate) fn len(&self) -> usize {
        // SAFETY: zmq_msg_size only reads the initialised message.
        unsafe { sys::zmq_msg_size(self.msg_ptr()) }
    }

    /// Sets the whole state word (see [`RawMsg::state`]).
    fn set_state(&mut self, state: usize) {
        *self.state.get_mut() = state;
    }

    /// libzmq's `more` flag, read with exclusive access (no `try_clone`
    /// can be writing the flag byte).
    fn read_more(&mut self) -> bool {
        // SAFETY: reads the initialised message's flags; &mut self rules
        // out a concurrent first sharing.
        unsafe { sys::zmq_msg_more(self.msg.get_mut()) == 1 }
    }

    /// Whether more frames followed this one when it was received.
    pub(crate) fn more(&self) -> bool {
        self.state.load(Ordering::Relaxed) & MORE != 0
    }

    /// A metadata property of a received message (`zmq_msg_gets`).
    pub(crate) fn gets(&self, property: &CStr) -> Option<String> {
        // SAFETY: reads the message's metadata pointer; the returned string
        // lives as long as the message, and we copy it before returning.
        let value = unsafe { sys::zmq_msg_gets(self.msg_ptr(), property.as_ptr()) };
        if value.is_null() {
            return None;
        }
        // SAFETY: non-NULL results are NUL-terminated strings owned by the
        // message's metadata, alive while &self is.
        Some(
            unsafe { CStr::from_ptr(value) }
                .to_string_lossy()
                .into_owned(),
        )
    }

    /// Another message with the same content: small frames are copied,
    /// larger ones share the content by reference count, as
    /// `zmq_msg_copy` does.
    pub(crate) fn try_clone(&self) -> Self {
        let more = self.state.load(Ordering::Relaxed) & MORE;
        let len = self.len();
        let mut copy = if len <= MAX_VSM_SIZE {
            Self::copy_from(self.data())
        } else {
            if self.state.load(Ordering::Acquire) & SHARED == 0 {
                let _guard = SHARE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
                if self.state.load(Ordering::Relaxed) & SHARED == 0 {
                    // The first copy marks the content as shared; dropping
                    // the temporary puts the count back to one.
                    drop(self.copy_unshared());
                    self.state.fetch_or(SHARED, Ordering::Release);
                }
            }
            let mut copy = self.copy_unshared();
            copy.set_state(SHARED);
            copy
        };
        let state = *copy.state.get_mut() | more;
        copy.set_state(state);
        copy
    }

    /// `zmq_msg_copy` into a new message.
    fn copy_unshared(&self) -> Self {
        let mut copy = Self::new();
        // SAFETY: both messages are initialised. If self's content is not
        // yet shared, libzmq writes its flag byte and counter: callers hold
        // SHARE_LOCK then, so no other copy runs, and readers (data, len,
        // gets) never read those fields. Once shared, the copy only reads
        // self and increments the content's atomic counter.
        unsafe { sys::zmq_msg_copy(copy.msg.get_mut(), self.msg_ptr()) };
        copy
    }
}

impl Drop for RawMsg {
    fn drop(&mut self) {
        if *self.state.get_mut() == SENT {
            // Nullified by the send: nothing to release (see SENT).
            return;
        }
        // SAFETY: self.msg is initialised and closed exactly once here.
        unsafe { sys::zmq_msg_close(self.msg.get_mut()) };
    }
}

impl std::fmt::Debug for RawMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawMsg").field("len", &self.len()).finish()
    }
}

impl AsRef<[u8]> for RawMsg {
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

mod quiet;
