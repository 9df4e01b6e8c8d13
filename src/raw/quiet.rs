//! Catching a panic without the panic hook printing it.
//!
//! Tokio has no way to ask whether the current runtime has an I/O driver:
//! registering an fd with a runtime built without `enable_io` panics. The
//! panic is caught and reported as an error, and this module keeps the
//! process's panic hook from printing a message for it first.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Set while this thread runs a closure under [`catch_quietly`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static WRAP_HOOK: Once = Once::new();

/// Runs `f`, returning `Err` if it panicked, without the panic message
/// that the hook would print for a panic on this thread meanwhile.
///
/// The first call wraps the process's panic hook once: the wrapper calls
/// the hook that was installed before it, except on a thread inside
/// `catch_quietly`. A hook installed later replaces the wrapper (then the
/// message prints again, as it would without this).
pub(super) fn catch_quietly<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    // The hook cannot be changed from a thread that is panicking.
    if !std::thread::panicking() {
        WRAP_HOOK.call_once(|| {
            let previous = panic::take_hook();
            panic::set_hook(Box::new(move |info| {
                if !QUIET.try_with(Cell::get).unwrap_or(false) {
                    previous(info);
                }
            }));
        });
    }
    let was_quiet = QUIET.with(|quiet| quiet.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|quiet| quiet.set(was_quiet));
    result
}
