//! The built-in lium transport (world `transport-plugin`): pods rented from Lium, a GPU
//! marketplace, through its REST API, and reached over ssh.
//!
//! A target is a pod's UUID, the id the API gives it (never its name, huid or index). P10 rents
//! one ([`lium::Lium::provision`]): it reads the balance, picks the node (LIUM_EXECUTOR_ID, or
//! the cheapest that matches the filters), refuses a node over the price cap or a rent the
//! balance cannot pay for LIUM_TTL hours before anything is sent, rents with an
//! `Idempotency-Key`, a pod name carrying the flow and a server-side time limit, and waits until
//! the pod is RUNNING and answers ssh. A pod that never gets ready is deleted (confirmed) and
//! another rented, at most LIUM_READY_RETRIES times; a pod that fails or vanishes fails P10 at
//! once with its events. Commands and files then go over ssh (the machinery of
//! `wfhost-ssh-client`) to the pod's endpoint, its host key pinned under the pod's id. P90
//! deletes the pod and lists pods until it is gone.
//!
//! Data flow: the WIT glue (`glue`, wasm32 only; the SDK's
//! [`export_transport!`](wfhost_pack_sdk::export_transport)) forwards each export to
//! [`lium::Lium`], which reads its settings ([`settings`]), talks to the API through the host's
//! `http` import ([`api`]: the key goes into the header by handle, reads ride out 429 and 5xx),
//! reads the API's rows ([`rows`]), and runs ssh through [`podssh`]. The transport keeps nothing
//! between calls but the host's memo (each pod's ssh endpoint). Everything except the glue
//! compiles and is tested on the host target.

pub mod api;
pub mod lium;
pub mod podssh;
pub mod rows;
pub mod settings;

#[cfg(target_arch = "wasm32")]
mod glue;
