//! The lock around a libzmq socket.
//!
//! It lives under `raw` because it hands out access to its value through
//! `UnsafeCell`: all of the crate's `unsafe` stays in this module.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The lock around a libzmq socket, held for one non-blocking libzmq call
/// (or one whole multipart message) at a time, so it is almost never
/// contended. Unlocking is a plain release store, where `std::sync::Mutex`
/// needs a read-modify-write to learn whether to wake a sleeper: one
/// locked instruction less per message on each side. A contended lock spins
/// briefly, then yields the thread until the holder's call returns. There
/// is no poisoning: nothing that runs under the lock can leave the socket
/// half-changed.
///
/// The lock word also counts how often the lock was taken (see [`Stamp`]),
/// so that a task can learn whether anybody has used the socket since its
/// own call, without taking the lock.
pub(crate) struct SocketLock<T> {
    /// [`LOCKED`], plus twice the number of times the lock was released.
    word: AtomicUsize,
    value: UnsafeCell<T>,
}

/// [`SocketLock::word`]: the lock is held.
const LOCKED: usize = 1;

/// A [`SocketLock`]'s word as one holder left it: equal to the word later
/// only if nobody has taken the lock since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp(usize);

// SAFETY: the value is only reached through a SocketGuard, and the LOCKED
// bit admits one guard at a time (set by an RMW, cleared by a release
// store), so the value moves between threads like a Mutex's: T: Send
// suffices.
unsafe impl<T: Send> Sync for SocketLock<T> {}

impl<T> SocketLock<T> {
    pub(crate) fn new(value: T) -> Self {
        SocketLock {
            word: AtomicUsize::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock. The RMW is sequentially consistent (on x86 every
    /// locked instruction is), which `unchanged_since` relies on.
    #[inline]
    pub(crate) fn lock(&self) -> SocketGuard<'_, T> {
        if self.word.fetch_or(LOCKED, Ordering::SeqCst) & LOCKED != 0 {
            self.lock_contended();
        }
        SocketGuard { lock: self }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            while self.word.load(Ordering::Relaxed) & LOCKED != 0 {
                if spins < 64 {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            // Setting a bit that is already set changes nothing, so a
            // failed try leaves the holder's word as it was.
            if self.word.fetch_or(LOCKED, Ordering::SeqCst) & LOCKED == 0 {
                return;
            }
        }
    }

    /// Whether nobody has taken the lock since the guard that gave `stamp`
    /// was dropped (a sequentially consistent load: see
    /// `Core::wait` for the other half of the argument).
    pub(crate) fn unchanged_since(&self, stamp: Stamp) -> bool {
        self.word.load(Ordering::SeqCst) == stamp.0
    }
}

impl<T> SocketLock<T> {
    /// The word the current holder will leave: call it only while holding
    /// the lock (the word is then changed by the holder alone: others'
    /// `fetch_or` of a set bit leaves it as it is).
    pub(crate) fn stamp_of_holder(&self) -> Stamp {
        Stamp(self.word.load(Ordering::Relaxed).wrapping_add(LOCKED))
    }
}

/// Access to a [`SocketLock`]'s value; unlocks when dropped.
pub(crate) struct SocketGuard<'a, T> {
    lock: &'a SocketLock<T>,
}

impl<T> std::ops::Deref for SocketGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock, so no other reference to the
        // value exists while it lives.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> std::ops::DerefMut for SocketGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; &mut self makes this the only reference.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SocketGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // LOCKED + 1 clears the bit and carries into the count: one more
        // release.
        let word = self.lock.word.load(Ordering::Relaxed);
        self.lock
            .word
            .store(word.wrapping_add(LOCKED), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::SocketLock;
    use std::sync::{Arc, Barrier};

    /// Threads that increment through the lock never lose an update, and
    /// the contended path (spin, then yield) always gets in.
    #[test]
    fn socket_lock_excludes() {
        const THREADS: usize = 4;
        const ROUNDS: usize = 20_000;
        let lock = Arc::new(SocketLock::new(0usize));
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (lock, start) = (Arc::clone(&lock), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..ROUNDS {
                        let mut guard = lock.lock();
                        // A read and a write apart, sometimes with the
                        // thread descheduled in between: a second holder
                        // would lose updates.
                        let value = *guard;
                        if i % 16 == 0 {
                            std::thread::yield_now();
                        }
                        *guard = value + 1;
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("a thread panicked");
        }
        assert_eq!(*lock.lock(), THREADS * ROUNDS);
    }

    #[test]
    fn stamp_tells_whether_the_lock_was_taken_since() {
        let lock = SocketLock::new(());
        let guard = lock.lock();
        let stamp = lock.stamp_of_holder();
        assert!(!lock.unchanged_since(stamp), "still held");
        drop(guard);
        assert!(lock.unchanged_since(stamp), "nobody took it since");
        let again = lock.lock();
        assert!(!lock.unchanged_since(stamp), "held by another");
        let later = lock.stamp_of_holder();
        drop(again);
        assert!(!lock.unchanged_since(stamp), "taken and released since");
        assert!(lock.unchanged_since(later));
        assert_ne!(stamp, later);
    }
}
