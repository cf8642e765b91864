//! The WASI base every role gets: io, clocks, random and cli stdio, with nothing to reach out
//! with.
//!
//! The context is empty: no environment, no arguments, no preopened directories, an empty stdin,
//! and stdout/stderr captured into [`TailPipe`]s that keep only the last bytes written (so a flood
//! costs the host nothing and a panic message at the end is still there). `wasi:filesystem`,
//! `wasi:sockets` and `wasi:http` are not linked at all. The monotonic clock's `subscribe-*`
//! calls are capped at the call's deadline: a guest that sleeps for an hour wakes when its
//! deadline passes and is then interrupted by the epoch check, instead of blocking the host.

use crate::store::HostState;
use bytes::{Bytes, BytesMut};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream, WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksCtxView, WasiClocksView};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamResult};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// How many bytes of stdout and of stderr a call keeps (the last ones written).
pub(crate) const STDIO_TAIL_BYTES: usize = 64 * 1024;
/// Most resources (streams, pollables) a guest may hold at once.
const MAX_RESOURCES: usize = 4096;
/// Extra sleep past the deadline, so the guest is already late when it wakes.
const WAKE_SLACK: Duration = Duration::from_millis(20);

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A fresh, empty WASI context whose stdout/stderr go to the given pipes.
pub(crate) fn new_ctx(stdout: &TailPipe, stderr: &TailPipe) -> (WasiCtx, ResourceTable) {
    let mut builder = WasiCtx::builder();
    builder.stdout(stdout.clone()).stderr(stderr.clone());
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    (builder.build(), table)
}

struct Table;

impl HasData for Table {
    type Data<'a> = &'a mut ResourceTable;
}

struct CappedClocks;

impl HasData for CappedClocks {
    type Data<'a> = CappedClock<'a>;
}

/// The monotonic clock with `subscribe-*` capped at the call's deadline.
pub(crate) struct CappedClock<'a> {
    inner: WasiClocksCtxView<'a>,
    deadline: Instant,
}

impl CappedClock<'_> {
    fn cap(&self, nanos: u64) -> u64 {
        let left = self.deadline.saturating_duration_since(Instant::now()) + WAKE_SLACK;
        nanos.min(u64::try_from(left.as_nanos()).unwrap_or(u64::MAX))
    }
}

impl monotonic_clock::Host for CappedClock<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        monotonic_clock::Host::now(&mut self.inner)
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        monotonic_clock::Host::resolution(&mut self.inner)
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let now = monotonic_clock::Host::now(&mut self.inner)?;
        let nanos = self.cap(when.saturating_sub(now));
        monotonic_clock::Host::subscribe_duration(&mut self.inner, nanos)
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let nanos = self.cap(duration);
        monotonic_clock::Host::subscribe_duration(&mut self.inner, nanos)
    }
}

fn capped_clock(state: &mut HostState) -> CappedClock<'_> {
    let deadline = state.deadline;
    CappedClock {
        inner: state.clocks(),
        deadline,
    }
}

/// Link the WASI base: exactly the interfaces in [`crate::roles::WASI_BASE_IMPORTS`].
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::{cli, clocks, io, random, sync};
    let l = linker;
    io::error::add_to_linker::<HostState, Table>(l, |s| &mut s.table)?;
    sync::io::poll::add_to_linker::<HostState, Table>(l, |s| &mut s.table)?;
    sync::io::streams::add_to_linker::<HostState, Table>(l, |s| &mut s.table)?;
    clocks::wall_clock::add_to_linker::<HostState, WasiClocks>(l, |s| s.clocks())?;
    monotonic_clock::add_to_linker::<HostState, CappedClocks>(l, capped_clock)?;
    random::random::add_to_linker::<HostState, WasiRandom>(l, |s| s.random())?;
    random::insecure::add_to_linker::<HostState, WasiRandom>(l, |s| s.random())?;
    random::insecure_seed::add_to_linker::<HostState, WasiRandom>(l, |s| s.random())?;
    cli::exit::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::environment::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::stdin::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::stdout::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::stderr::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::terminal_input::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::terminal_output::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::terminal_stdin::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::terminal_stdout::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::terminal_stderr::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    Ok(())
}

/// An output pipe that keeps the last `capacity` bytes written and counts the rest. Writes never
/// fail and never block, so a guest flooding stdout costs the host `capacity` bytes at most.
#[derive(Clone)]
pub(crate) struct TailPipe {
    inner: Arc<Mutex<Tail>>,
}

struct Tail {
    buffer: BytesMut,
    capacity: usize,
    total: u64,
}

impl TailPipe {
    pub(crate) fn new(capacity: usize) -> TailPipe {
        TailPipe {
            inner: Arc::new(Mutex::new(Tail {
                buffer: BytesMut::new(),
                capacity,
                total: 0,
            })),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut tail = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        tail.total = tail.total.saturating_add(bytes.len() as u64);
        let capacity = tail.capacity;
        let bytes = &bytes[bytes.len().saturating_sub(capacity)..];
        tail.buffer.extend_from_slice(bytes);
        let excess = tail.buffer.len().saturating_sub(capacity);
        if excess > 0 {
            let _ = tail.buffer.split_to(excess);
        }
    }

    /// The kept bytes (the last ones written), lossily decoded.
    pub(crate) fn tail_text(&self, max: usize) -> String {
        let tail = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = &tail.buffer[tail.buffer.len().saturating_sub(max)..];
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// Bytes written in total (kept or not).
    pub(crate) fn total(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl IsTerminal for TailPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TailPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for TailPipe {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for TailPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1024 * 1024)
    }
}

impl tokio::io::AsyncWrite for TailPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_pipe_keeps_the_last_bytes_and_counts_all() {
        let pipe = TailPipe::new(8);
        pipe.push(b"hello ");
        pipe.push(b"world, this is long");
        pipe.push(b"!end");
        assert_eq!(pipe.total(), 29);
        assert_eq!(pipe.tail_text(100), "long!end");
        assert_eq!(pipe.tail_text(3), "end");
    }
}
