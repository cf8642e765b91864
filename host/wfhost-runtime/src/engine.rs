//! The one wasmtime engine of a runtime, how it lays out linear memories in the address space,
//! and the epoch ticker that enforces wall-clock deadlines.
//!
//! The engine is components-only, counts fuel, and checks the epoch at function entries and loop
//! back-edges. A ticker thread bumps the epoch every [`EPOCH_TICK`] of real time (catching up
//! after a late wake-up); a call's store gets the deadline in ticks that corresponds to
//! `now + wall` in real time, plus one tick, so a call is interrupted at most about one tick late
//! and never early. The ticker holds only a weak handle on the engine and stops when the runtime
//! is dropped.
//!
//! Memory layout ([`MemoryLayout`], chosen from the process's address-space limit,
//! `RLIMIT_AS`, when the engine is made):
//!
//! - **pooled** (no limit, or one above [`POOLED_ADDRESS_SPACE`]): instances come from a pool of
//!   pre-reserved slots (see `pooling`), each linear memory in a 4 GiB reservation plus guard
//!   regions, so compiled code needs no bounds checks. The pool reserves about 130 GiB of address
//!   space up front (never memory: only touched pages cost anything).
//! - **compact** (a lower limit, e.g. `ulimit -v 4194304` on an HPC login node): instances are
//!   allocated per call and each linear memory reserves only its size plus
//!   [`COMPACT_GROWTH`] and a [`COMPACT_GUARD`] (compiled code checks bounds), so the address
//!   space used is about what live calls use. Fuel, epoch deadlines and memory limits are the same
//!   in both; the compiled code differs, so the two have different cache entries.
//!
//! A mapping refused under the limit anyway (a limit too small for what a call needs) is reported
//! by [`address_space_advice`] with the limit that would be needed.

use crate::error::RuntimeError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
    WasmBacktraceDetails,
};

/// Most component instances alive at once (one per call in progress).
pub(crate) const MAX_LIVE_INSTANCES: u32 = 16;

/// Dirty bytes a freed instance slot keeps resident (see `pooling`).
const KEEP_RESIDENT: usize = 2 << 20;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The largest a linear memory may be (wasm32's own limit).
const MAX_MEMORY: u64 = 4 * GIB;
/// wasmtime's default guard region after a linear memory (on 64-bit hosts), used by the pooled
/// layout.
const POOLED_GUARD: u64 = 32 * MIB;
/// Address space the pooled layout needs: every memory slot of the pool (4 GiB plus its guard)
/// and room for the rest of the process. Under a lower `RLIMIT_AS` the compact layout is used.
pub(crate) const POOLED_ADDRESS_SPACE: u64 =
    MAX_LIVE_INSTANCES as u64 * 2 * (MAX_MEMORY + POOLED_GUARD) + 16 * GIB;
/// Compact layout: address space a linear memory reserves beyond its current size, to grow into
/// before it has to move.
pub(crate) const COMPACT_GROWTH: u64 = 16 * MIB;
/// Compact layout: guard region after a linear memory.
pub(crate) const COMPACT_GUARD: u64 = 64 << 10;
/// The smallest address-space limit every role is tested to load and run under with its default
/// limits (the test suite runs them under exactly this `RLIMIT_AS`).
pub const MIN_ADDRESS_SPACE: u64 = 4 * GIB;

/// How the engine lays out linear memories (see the module header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemoryLayout {
    /// Pre-reserved 4 GiB slots with guard regions, no bounds checks.
    Pooled,
    /// Per-call memories reserving about what they use, bounds-checked.
    Compact,
}

impl MemoryLayout {
    /// The layout for a process whose address space is limited to `limit` bytes (`None`: no
    /// limit).
    pub(crate) fn for_limit(limit: Option<u64>) -> MemoryLayout {
        match limit {
            Some(limit) if limit < POOLED_ADDRESS_SPACE => MemoryLayout::Compact,
            _ => MemoryLayout::Pooled,
        }
    }
}

/// The process's address-space limit (`RLIMIT_AS`, what `ulimit -v` sets), `None` when unlimited.
pub(crate) fn address_space_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// The address space this process maps now (`VmSize`), in bytes; 0 when unknown.
fn mapped_now() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|l| l.strip_prefix("VmSize:"))?;
            line.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// When `error` (an error chain on one line) is a mapping the kernel refused under an
/// address-space limit, what to tell the user: the limit, what failed, and the limit that would
/// be needed (`ulimit -v` in KiB). `None` for any other error, or when there is no limit.
pub(crate) fn address_space_advice(error: &str) -> Option<String> {
    let limit = address_space_limit()?;
    advice(error, limit, mapped_now())
}

fn advice(error: &str, limit: u64, mapped: u64) -> Option<String> {
    let at = error.find("mmap failed")?;
    let wanted = error[at..]
        .split_once("0x")
        .and_then(|(_, rest)| {
            let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
            u64::from_str_radix(&hex, 16).ok()
        })
        .unwrap_or(0);
    let needed = mapped
        .saturating_add(wanted)
        .saturating_add(256 * MIB)
        .div_ceil(256 * MIB)
        .saturating_mul(256 * MIB)
        .max(MIN_ADDRESS_SPACE);
    Some(format!(
        "the process's address-space limit is too small: {error} (limit {} MiB, `ulimit -v {}`, \
         with {} MiB already mapped); raise it to at least {} MiB (`ulimit -v {}`) or remove it",
        limit / MIB,
        limit / 1024,
        mapped / MIB,
        needed / MIB,
        needed / 1024
    ))
}

/// How often the epoch advances.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The engine for `layout`.
pub(crate) fn new_engine(layout: MemoryLayout) -> Result<Engine, RuntimeError> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(true);
    config.epoch_interruption(true);
    // Failure messages quote the trap and the guest's stderr; wasm backtraces would only add
    // noise (and cost) to every trap.
    config.wasm_backtrace_max_frames(None);
    // Explicit, so wasmtime does not consult WASMTIME_BACKTRACE_DETAILS (it would change the
    // compiled code and the cache key behind our back).
    config.wasm_backtrace_details(WasmBacktraceDetails::Disable);
    // Our own on-disk cache (see `cache`) is used instead of wasmtime's.
    config.parallel_compilation(true);
    match layout {
        MemoryLayout::Pooled => {
            config.memory_guard_size(POOLED_GUARD);
            config.allocation_strategy(pooling());
        }
        MemoryLayout::Compact => {
            config.memory_reservation(0);
            config.memory_reservation_for_growth(COMPACT_GROWTH);
            config.memory_guard_size(COMPACT_GUARD);
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
        }
    }
    Engine::new(&config).map_err(|e| {
        let message = format!("{e:#}");
        RuntimeError::Engine(address_space_advice(&message).unwrap_or(message))
    })
}

/// Pre-reserved instance slots: instantiation reuses them instead of mapping fresh memory for every
/// call (the per-call store makes instantiation the hot path of a warm call). Slots are virtual
/// reservations; only touched pages cost memory. Where Linux's `PAGEMAP_SCAN` is available
/// (6.7+), a freed slot resets only its dirty pages in place and keeps up to
/// [`KEEP_RESIDENT`] of them resident, which avoids a page fault per touched page on the next
/// call; elsewhere slots are reset with `madvise` (a blanket `memset` of the low addresses would
/// cost more than it saves, since a Rust guest's stack and heap start above 1 MiB).
fn pooling() -> InstanceAllocationStrategy {
    let keep = if PoolingAllocationConfig::is_pagemap_scan_available() {
        KEEP_RESIDENT
    } else {
        0
    };
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(MAX_LIVE_INSTANCES)
        .total_core_instances(MAX_LIVE_INSTANCES * 8)
        .total_memories(MAX_LIVE_INSTANCES * 2)
        .total_tables(MAX_LIVE_INSTANCES * 4)
        .max_memory_size(MAX_MEMORY as usize)
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(keep)
        .table_keep_resident(keep);
    InstanceAllocationStrategy::Pooling(pool)
}

/// The ticker's view of time: when it started and how many ticks it has applied to the engine.
#[derive(Clone)]
pub(crate) struct EpochClock {
    start: Instant,
    ticks: Arc<AtomicU64>,
}

impl EpochClock {
    /// Epoch ticks from now until `wall` has passed in real time, plus one so a call never stops
    /// early. The epoch follows real time (see the ticker), so when the ticker is behind, the
    /// missing ticks are added here rather than cutting the call short.
    pub(crate) fn deadline_ticks(&self, wall: Duration) -> u64 {
        let tick = EPOCH_TICK.as_nanos();
        let due = (self
            .start
            .elapsed()
            .as_nanos()
            .saturating_add(wall.as_nanos()))
        .div_ceil(tick);
        let target = u64::try_from(due).unwrap_or(u64::MAX / 4).saturating_add(1);
        let current = self.ticks.load(Ordering::Acquire);
        target.saturating_sub(current).clamp(1, u64::MAX / 4)
    }
}

/// Background thread that advances the engine's epoch. Dropping it stops the thread.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    clock: EpochClock,
    handle: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine) -> Result<EpochTicker, RuntimeError> {
        let weak = engine.weak();
        let stop = Arc::new(AtomicBool::new(false));
        let clock = EpochClock {
            start: Instant::now(),
            ticks: Arc::new(AtomicU64::new(0)),
        };
        let stop_flag = Arc::clone(&stop);
        let thread_clock = clock.clone();
        let handle = std::thread::Builder::new()
            .name("wfhost-epoch".to_string())
            .spawn(move || {
                // The epoch tracks real time: after a late wake-up the missed ticks are caught up,
                // so sleep jitter does not stretch deadlines.
                let mut applied: u64 = 0;
                while !stop_flag.load(Ordering::Relaxed) {
                    // Parked rather than asleep, so dropping the ticker wakes it at once.
                    std::thread::park_timeout(EPOCH_TICK);
                    let Some(engine) = weak.upgrade() else { break };
                    let due = thread_clock.start.elapsed().as_nanos() / EPOCH_TICK.as_nanos();
                    let due = u64::try_from(due).unwrap_or(u64::MAX);
                    while applied < due {
                        engine.increment_epoch();
                        applied += 1;
                        thread_clock.ticks.store(applied, Ordering::Release);
                    }
                }
            })
            .map_err(RuntimeError::Ticker)?;
        Ok(EpochTicker {
            stop,
            clock,
            handle: Some(handle),
        })
    }

    pub(crate) fn clock(&self) -> EpochClock {
        self.clock.clone()
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            handle.thread().unpark();
            // A panic in the ticker thread has nothing left to report.
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_follows_the_address_space_limit() {
        assert_eq!(MemoryLayout::for_limit(None), MemoryLayout::Pooled);
        assert_eq!(
            MemoryLayout::for_limit(Some(u64::MAX / 2)),
            MemoryLayout::Pooled
        );
        assert_eq!(
            MemoryLayout::for_limit(Some(4 * GIB)),
            MemoryLayout::Compact
        );
        assert_eq!(
            MemoryLayout::for_limit(Some(POOLED_ADDRESS_SPACE - 1)),
            MemoryLayout::Compact
        );
        // Both layouts make an engine here (this process has no small limit).
        new_engine(MemoryLayout::Compact).expect("compact engine");
    }

    #[test]
    fn a_refused_mapping_says_which_limit_is_needed() {
        let error = "cannot instantiate: mmap failed to reserve 0x40000000 bytes: Cannot allocate \
                     memory (os error 12)";
        let text = advice(error, 2 * GIB, 1536 * MIB).expect("advice");
        assert!(
            text.contains("limit 2048 MiB, `ulimit -v 2097152`"),
            "{text}"
        );
        assert!(text.contains("1536 MiB already mapped"), "{text}");
        // 1.5 GiB mapped + 1 GiB wanted + 256 MiB, rounded up to 256 MiB: 2.75 GiB, below the
        // 4 GiB every role is tested under, so 4 GiB is what to ask for.
        assert!(
            text.contains("at least 4096 MiB (`ulimit -v 4194304`)"),
            "{text}"
        );
        let big = advice(error, 5 * GIB, 4 * GIB).expect("advice");
        assert!(
            big.contains("at least 5376 MiB (`ulimit -v 5505024`)"),
            "{big}"
        );
        assert!(advice("component trapped: unreachable", 4 * GIB, GIB).is_none());
    }

    #[test]
    fn deadline_ticks_cover_the_wall_time_and_the_ticker_lag() {
        let clock = EpochClock {
            start: Instant::now(),
            ticks: Arc::new(AtomicU64::new(0)),
        };
        let ticks = clock.deadline_ticks(Duration::from_millis(100));
        assert!((11..=13).contains(&ticks), "{ticks}");
        // A ticker that is behind real time gets the missing ticks added.
        let lagging = EpochClock {
            start: Instant::now() - Duration::from_millis(500),
            ticks: Arc::new(AtomicU64::new(10)),
        };
        let ticks = lagging.deadline_ticks(Duration::from_millis(100));
        assert!((50..=53).contains(&ticks), "{ticks}");
        assert!(clock.deadline_ticks(Duration::MAX) > 1_000_000);
    }
}
