//! The registry server: configuration, storage-driver selection, and the HTTP API.

pub mod auth;
pub mod cli;
pub mod config;
pub mod drivers;
pub mod http;
pub mod logging;
pub mod maintenance;
pub mod startup;
