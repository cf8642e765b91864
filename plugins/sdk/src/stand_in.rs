//! The stand-ins, for tests, of the `types`, `log` and `settings` modules wit-bindgen generates
//! for every world of `wfhost:plugin` (same module paths, names and signatures), so the glue
//! macros can be expanded and exercised on the host target. `log` and `settings` record into and
//! read from a `thread_local!` the test names, whose value has `logs` and `settings` fields.

/// Define `types`, `log` and `settings`; `$imports` is the test's `thread_local!` (a `RefCell`
/// of a struct with `logs: Vec<(log::Level, String)>` and `settings: BTreeMap<String, String>`).
macro_rules! shared_modules {
    ($imports:path) => {
        // Each world uses some of the records only.
        #[allow(dead_code)]
        pub mod types {
            #[derive(Debug, Clone, PartialEq, Eq)]
            pub struct Kv {
                pub key: String,
                pub value: String,
            }

            crate::records::wit_records!();
        }

        pub mod log {
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub enum Level {
                Debug,
                Info,
                Warn,
                Error,
            }

            pub fn emit(level: Level, message: &str) {
                $imports
                    .with(|i| i.borrow_mut().logs.push((level, message.to_string())));
            }
        }

        pub mod settings {
            pub fn get(key: &str) -> Option<String> {
                $imports.with(|i| i.borrow().settings.get(key).cloned())
            }
        }
    };
}

pub(crate) use shared_modules;
