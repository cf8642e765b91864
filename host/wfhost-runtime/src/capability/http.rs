//! `wfhost:plugin/http`: a transport's outgoing HTTP requests, forwarded to
//! [`TransportHost::http_send`](crate::TransportHost::http_send).
//!
//! Only store data implementing [`HttpView`] can be given the interface, and only the
//! transport's does. The policy (declared hosts, allowed base URLs, HTTPS, timeouts, size cap,
//! secrets by handle and their scrubbing: [`crate::http::HttpClient`]; grants and records: the
//! embedder) lives in the host implementation.

use crate::bindings::transport::wfhost::plugin::http::{self, HttpError, Request, Response};
use crate::host::TransportHost;
use wasmtime::component::{HasData, Linker};

/// Store data whose component may send HTTP requests.
pub(crate) trait HttpView: Send {
    /// The host that sends (or refuses) the requests.
    fn http_host(&mut self) -> &dyn TransportHost;
}

/// `http::Host` over the host an [`HttpView`] names.
pub(crate) struct HttpCtx<'a>(&'a dyn TransportHost);

impl http::Host for HttpCtx<'_> {
    fn send(&mut self, request: Request) -> Result<Response, HttpError> {
        self.0.http_send(request)
    }
}

struct Http;

impl HasData for Http {
    type Data<'a> = HttpCtx<'a>;
}

/// Link `wfhost:plugin/http`.
pub(crate) fn add_to_linker<T: HttpView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    http::add_to_linker::<T, Http>(linker, |state| HttpCtx(state.http_host()))
}
