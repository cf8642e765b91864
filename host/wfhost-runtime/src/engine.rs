//! The one wasmtime engine of a runtime, and the epoch ticker that enforces wall-clock deadlines.
//!
//! The engine is components-only, counts fuel, and checks the epoch at function entries and loop
//! back-edges. A ticker thread bumps the epoch every [`EPOCH_TICK`] of real time (catching up
//! after a late wake-up); a call's store gets the deadline in ticks that corresponds to
//! `now + wall` in real time, plus one tick, so a call is interrupted at most about one tick late
//! and never early. The ticker holds only a weak handle on the engine and stops when the runtime
//! is dropped. Instances come from a pooling allocator (see `pooling`).

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

/// How often the epoch advances.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

pub(crate) fn new_engine() -> Result<Engine, RuntimeError> {
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
    config.allocation_strategy(pooling());
    Engine::new(&config).map_err(|e| RuntimeError::Engine(format!("{e:#}")))
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
        .max_memory_size(4 << 30)
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
