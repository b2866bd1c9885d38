//! The `hookd` binary's library: configuration, wiring and subcommands.
//!
//! `main.rs` only parses the command line and maps errors to exit codes; everything else is
//! here so that integration tests drive the very same [`app::build`] and [`app::App::run`].

pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod listen;

pub use app::{build, App, StartError};
pub use config::{Config, ServeArgs};
