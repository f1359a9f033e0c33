//! The host's TOML files (the Spin manifest, the runtime config) are read through the shared
//! `songforge-config-file` crate, which the model catalog uses too.

pub use songforge_config_file::{ConfigFileError, parse, parse_fields, read};
