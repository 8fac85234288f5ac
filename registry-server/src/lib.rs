//! The registry server: configuration, storage-driver selection, and the HTTP API.

pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod drivers;
pub mod health;
pub mod http;
pub mod logging;
pub mod maintenance;
pub mod metrics;
pub mod proxy;
pub mod startup;
pub mod ui;
pub mod upload_purger;
