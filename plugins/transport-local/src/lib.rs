//! The built-in local transport (in progress).
wit_bindgen::generate!({ world: "transport-plugin", path: "../../wit" });
use exports::wfhost::plugin::transport::{ExecSpec, Guest, TransportError};
use wfhost::plugin::types::{CommandResult, PodIdentity};
struct Local;
fn todo<T>() -> Result<T, TransportError> { Err(TransportError::Failed("not implemented".into())) }
impl Guest for Local {
    fn id() -> String { "local".into() }
    fn parse_target(t: String) -> Result<String, TransportError> { Ok(t) }
    fn provision(_: String, _: String) -> Result<PodIdentity, TransportError> { todo() }
    fn status(_: String) -> Result<(String, String), TransportError> { todo() }
    fn resolve_path(_: String, _: String) -> Result<String, TransportError> { todo() }
    fn exec(_: String, _: ExecSpec) -> Result<CommandResult, TransportError> { todo() }
    fn put_file(_: String, _: String, _: Vec<u8>, _: u32) -> Result<(), TransportError> { todo() }
    fn get_file(_: String, _: String, _: u64) -> Result<Vec<u8>, TransportError> { todo() }
    fn fetch_dir(_: String, _: String, _: String) -> Result<(), TransportError> { todo() }
    fn delete(_: String) -> Result<(), TransportError> { todo() }
}
export!(Local);
