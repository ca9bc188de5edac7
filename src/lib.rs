//! HelpStack: a self-hosted inbox for Meta messaging.
//!
//! Data flows one way: `http` (streams the body through the signature check) ->
//! `ingest` (parses it with `webhook`, then one writer, group commit) -> `store` ->
//! `live` (after commit). docs/design.md "Layers"; tests/layers.rs enforces them.

pub mod auth;
pub mod cli;
pub mod config;
pub mod data_dir;
pub mod error;
pub mod filestore;
pub mod graph;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod live;
pub mod maintenance;
pub mod metrics;
pub mod model;
pub mod ownership;
pub mod private_files;
pub mod seal;
pub mod secrets;
pub mod server;
pub mod state;
pub mod store;
pub mod systemd;
pub mod time_fmt;
pub mod webhook;

use std::sync::Arc;

use poem::Endpoint;

/// Builds the whole HTTP application for a state; tests can drive it in-process.
pub fn app(state: Arc<state::AppState>) -> impl Endpoint {
    http::routes(state)
}
