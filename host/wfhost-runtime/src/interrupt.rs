//! SIGINT, SIGTERM and SIGHUP for a flow: the first asks the flow to stop cleanly, a second
//! ends the process at once.
//!
//! ```text
//! install() ─► signal ─► first: remember it ─► received() is Some ─► every ProcessRunner::run
//!                │                             kills its child's process group and refuses new
//!                │                             ones; the engine records the interruption and ends
//!                └─────► second: SIGKILL every registered child's group ─► _exit(128 + signal)
//! ```
//!
//! The handler only stores the signal in an atomic, or kills and exits (both async-signal-safe).
//! Children are spawned in process groups of their own (so a terminal's Ctrl-C reaches only
//! wfhost) and registered here while they run, so the second signal can still stop them.
//! Processes that detached into a session of their own (the sweep runner on a local pod) are
//! not wfhost's to stop and are never registered.

use std::sync::atomic::{AtomicI32, Ordering};

/// The first signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Process groups of the children running now (0: a free slot).
static CHILDREN: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];

/// The signals a flow handles.
const SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(signal: libc::c_int) {
    if RECEIVED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        return;
    }
    // A second signal while the first is handled: stop every child and leave now.
    for slot in &CHILDREN {
        let group = slot.load(Ordering::SeqCst);
        if group > 0 {
            // SAFETY: kill(2) is async-signal-safe; a negative pid names the child's group.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
    }
    // SAFETY: _exit(2) is async-signal-safe and ends the process without running Rust code.
    unsafe { libc::_exit(128 + signal) }
}

/// Handle SIGINT, SIGTERM and SIGHUP from now on (the CLI calls this for flows).
pub fn install() -> std::io::Result<()> {
    for signal in SIGNALS {
        // SAFETY: a zeroed sigaction with a plain handler, an empty mask and no flags is valid;
        // the handler only touches atomics, kill(2) and _exit(2).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// The name of the first signal received (`SIGINT`, `SIGTERM`, `SIGHUP`), if one was.
pub fn received() -> Option<&'static str> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        libc::SIGINT => Some("SIGINT"),
        libc::SIGTERM => Some("SIGTERM"),
        libc::SIGHUP => Some("SIGHUP"),
        _ => Some("a signal"),
    }
}

/// A child's process group, registered while it runs.
pub(crate) struct Registered(Option<usize>);

/// Register the process group `group` (a child spawned as its group's leader).
pub(crate) fn register(group: u32) -> Registered {
    let Ok(group) = i32::try_from(group) else { return Registered(None) };
    let slot = CHILDREN.iter().position(|s| s.compare_exchange(0, group, Ordering::SeqCst, Ordering::SeqCst).is_ok());
    Registered(slot)
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            CHILDREN[i].store(0, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_groups_take_a_slot_while_they_live() {
        let before = CHILDREN.iter().filter(|s| s.load(Ordering::SeqCst) != 0).count();
        let a = register(4242);
        assert_eq!(CHILDREN.iter().filter(|s| s.load(Ordering::SeqCst) == 4242).count(), 1);
        drop(a);
        assert_eq!(CHILDREN.iter().filter(|s| s.load(Ordering::SeqCst) != 0).count(), before);
    }
}
