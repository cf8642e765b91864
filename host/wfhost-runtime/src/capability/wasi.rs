//! The WASI every role gets: every interface a language runtime imports, each denying access.
//!
//! A component's imports are not its capabilities: Rust's std, Python (componentize-py) and other
//! toolchains import `wasi:filesystem` and `wasi:sockets` whether or not the plugin uses them, so
//! the host links all of WASI 0.2's command interfaces (exactly
//! [`WASI_BASE_IMPORTS`](crate::WASI_BASE_IMPORTS)) for every role and makes the context deny
//! everything:
//!
//! - filesystem: no preopened directory, so there is no descriptor to open, list or write
//!   anything through (`preopens.get-directories` is empty);
//! - sockets: TCP and UDP sockets cannot be created, name lookup fails, and every socket address
//!   is refused (the address check says no to all);
//! - cli: no environment, no arguments, no initial directory, stdin empty (closed), stdout and
//!   stderr captured into [`TailPipe`]s that keep only the last bytes written (so a flood costs
//!   the host nothing and a panic message at the end is still there); `exit` ends the call;
//! - clocks and random as the host has them, except that the monotonic clock's `subscribe-*` calls
//!   are capped at the call's deadline: a guest that sleeps for an hour wakes when its deadline
//!   passes and is then interrupted by the epoch check, instead of blocking the host.
//!
//! Store data implements [`WasiSandboxView`] to hand out its [`WasiSandbox`] (context, resource
//! table, deadline); [`add_to_linker`] links the interfaces for any such store.

use bytes::{Bytes, BytesMut};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream, WasiCli, WasiCliCtxView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksCtxView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamResult};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsCtxView};
use wasmtime_wasi::WasiCtx;

/// How many bytes of stdout and of stderr a call keeps (the last ones written).
pub(crate) const STDIO_TAIL_BYTES: usize = 64 * 1024;
/// Most resources (streams, pollables) a guest may hold at once.
const MAX_RESOURCES: usize = 4096;
/// Extra sleep past the deadline, so the guest is already late when it wakes.
const WAKE_SLACK: Duration = Duration::from_millis(20);

/// The WASI state of one call: a context that denies everything, its resource table and the
/// call's deadline.
pub(crate) struct WasiSandbox {
    ctx: WasiCtx,
    table: ResourceTable,
    deadline: Instant,
}

impl WasiSandbox {
    /// A fresh context: stdout/stderr go to the given pipes, everything else is denied or empty.
    pub(crate) fn new(stdout: &TailPipe, stderr: &TailPipe, deadline: Instant) -> WasiSandbox {
        let mut builder = WasiCtx::builder();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        WasiSandbox {
            ctx: builder.build(),
            table,
            deadline,
        }
    }

    fn cli(&mut self) -> WasiCliCtxView<'_> {
        WasiCliCtxView {
            ctx: self.ctx.cli(),
            table: &mut self.table,
        }
    }

    fn clocks(&mut self) -> WasiClocksCtxView<'_> {
        WasiClocksCtxView {
            ctx: self.ctx.clocks(),
            table: &mut self.table,
        }
    }

    fn filesystem(&mut self) -> WasiFilesystemCtxView<'_> {
        WasiFilesystemCtxView {
            ctx: self.ctx.filesystem(),
            table: &mut self.table,
        }
    }

    fn sockets(&mut self) -> WasiSocketsCtxView<'_> {
        WasiSocketsCtxView {
            ctx: self.ctx.sockets(),
            table: &mut self.table,
        }
    }

    fn capped_clock(&mut self) -> CappedClock<'_> {
        let deadline = self.deadline;
        CappedClock {
            inner: self.clocks(),
            deadline,
        }
    }
}

/// Store data whose component gets the WASI interfaces (every role's).
pub(crate) trait WasiSandboxView: Send {
    /// The call's WASI state.
    fn wasi(&mut self) -> &mut WasiSandbox;
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

/// Link the WASI interfaces: exactly those in [`crate::roles::WASI_BASE_IMPORTS`].
pub(crate) fn add_to_linker<T: WasiSandboxView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, io, random, sockets, sync};
    let l = linker;
    io::error::add_to_linker::<T, Table>(l, |s| &mut s.wasi().table)?;
    sync::io::poll::add_to_linker::<T, Table>(l, |s| &mut s.wasi().table)?;
    sync::io::streams::add_to_linker::<T, Table>(l, |s| &mut s.wasi().table)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, |s| s.wasi().clocks())?;
    monotonic_clock::add_to_linker::<T, CappedClocks>(l, |s| s.wasi().capped_clock())?;
    random::random::add_to_linker::<T, WasiRandom>(l, |s| s.wasi().ctx.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |s| s.wasi().ctx.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |s| s.wasi().ctx.random())?;
    cli::exit::add_to_linker::<T, WasiCli>(l, |s| s.wasi().cli())?;
    cli::environment::add_to_linker::<T, WasiCli>(l, |s| s.wasi().cli())?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, |s| s.wasi().cli())?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, |s| s.wasi().cli())?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, |s| s.wasi().cli())?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, |s| s.wasi().cli())?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, |s| s.wasi().cli())?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, |s| s.wasi().cli())?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, |s| s.wasi().cli())?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, |s| s.wasi().cli())?;
    filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, |s| s.wasi().filesystem())?;
    sync::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, |s| s.wasi().filesystem())?;
    sockets::instance_network::add_to_linker::<T, WasiSockets>(l, |s| s.wasi().sockets())?;
    sockets::network::add_to_linker::<T, WasiSockets>(l, &Default::default(), |s| {
        s.wasi().sockets()
    })?;
    sockets::ip_name_lookup::add_to_linker::<T, WasiSockets>(l, |s| s.wasi().sockets())?;
    sockets::tcp_create_socket::add_to_linker::<T, WasiSockets>(l, |s| s.wasi().sockets())?;
    sync::sockets::tcp::add_to_linker::<T, WasiSockets>(l, |s| s.wasi().sockets())?;
    sync::sockets::udp_create_socket::add_to_linker::<T, WasiSockets>(l, |s| s.wasi().sockets())?;
    sync::sockets::udp::add_to_linker::<T, WasiSockets>(l, |s| s.wasi().sockets())?;
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
