//! A global allocator for the fuzz binaries that aborts on an allocation past the limits, so
//! a small input that makes a parser reserve gigabytes (a header claiming hours of audio, a
//! length field taken on trust) is a finding, saved by libFuzzer like a panic. libFuzzer's
//! own `-malloc_limit_mb` needs a sanitizer's allocator hooks; this works without one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The largest single allocation: far above any buffer a fuzz input legitimately needs (one
/// channel of a 30 s decode at 384 kHz is 46 MB).
pub const MAX_ONE_ALLOCATION: usize = 256 << 20;
/// The most live at once.
pub const MAX_LIVE: usize = 1 << 30;

/// [`System`] with the two caps.
pub struct CappedAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Set while a finding is reported: the report's own allocations pass unchecked.
static REPORTING: AtomicBool = AtomicBool::new(false);

fn over(message: &[u8]) -> ! {
    REPORTING.store(true, Ordering::SeqCst);
    let _ = std::io::stderr().write_all(message);
    // Who asked: libFuzzer prints no stack for an abort without a sanitizer.
    let _ = writeln!(
        std::io::stderr(),
        "{}",
        std::backtrace::Backtrace::force_capture()
    );
    std::process::abort()
}

fn take(size: usize) {
    if REPORTING.load(Ordering::Relaxed) {
        return;
    }
    if size > MAX_ONE_ALLOCATION {
        over(b"fuzz: one allocation over MAX_ONE_ALLOCATION (256 MiB)\n");
    }
    if LIVE.fetch_add(size, Ordering::Relaxed) + size > MAX_LIVE {
        over(b"fuzz: live allocations over MAX_LIVE (1 GiB)\n");
    }
}

// SAFETY: every call goes to `System` with the caller's layout unchanged; the counter only
// reads sizes.
unsafe impl GlobalAlloc for CappedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        take(layout.size());
        // SAFETY: forwarded as received.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        take(layout.size());
        // SAFETY: forwarded as received.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        take(new_size);
        // SAFETY: forwarded as received.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        // On failure the old block lives on: count it instead of the new size.
        let freed = if p.is_null() { new_size } else { layout.size() };
        LIVE.fetch_sub(freed, Ordering::Relaxed);
        p
    }
}
