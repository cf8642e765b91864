//! WIT glue (wasm32 only): the bindings of world `executor`, and the SDK's glue over them, which
//! backs [`wfhost_pack_sdk::executor::Host`] with the `gateway`, `settings` and `log` imports
//! and forwards the `phase` exports to [`crate::phases::Builtin`]. No logic lives here.

wit_bindgen::generate!({ world: "executor", path: "../../wit" });

wfhost_pack_sdk::export_executor!(Component, crate::phases::Builtin::new);

export!(Component);
