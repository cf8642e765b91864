//! WIT glue (wasm32 only): the bindings of world `transport-plugin`, and the SDK's glue over
//! them, which backs [`wfhost_pack_sdk::transport::Host`] with the `process`, `settings`, `log`,
//! `http` and `memo` imports and forwards each `transport` export to [`crate::lium::Lium`]. No
//! logic lives here.

wit_bindgen::generate!({ world: "transport-plugin", path: "../../wit" });

wfhost_pack_sdk::export_transport!(Component, crate::lium::Lium::new);

export!(Component);
