//! From a config file to a running server, with the exit codes operators script against:
//! 0 after a clean shutdown, 2 for a configuration error, 1 for anything else.

use std::net::TcpListener;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use registry_core::registry::{Registry, RegistrySettings};

use crate::auth::{AccessControl, Htpasswd, TokenAuth};
use crate::config::{AuthConfig, Config, ConfigError};
use crate::http::tls::TlsServer;
use crate::http::{AppState, Stats, Urls};
use crate::{drivers, logging};

const CONFIG_ERROR: u8 = 2;

fn config_failure(e: &ConfigError) -> ExitCode {
    eprintln!("registry: configuration error: {e}");
    ExitCode::from(CONFIG_ERROR)
}

/// `registry check-config`: the configuration, and the files access control reads.
pub fn check(path: Option<&Path>) -> ExitCode {
    let checked = Config::load(path).and_then(|config| {
        let access = access_control(&config)?;
        Ok((config, access))
    });
    match checked {
        Ok((config, access)) => {
            for key in &config.ignored_keys {
                println!("ignored (not implemented here): {key}");
            }
            if let Some(tls) = &config.http.tls {
                if let Err(e) = TlsServer::load(tls) {
                    return config_failure(&e);
                }
                for warning in &tls.warnings {
                    println!("warning: {warning}");
                }
            }
            println!(
                "ok: {} storage, listening on {}, access control: {}",
                config.storage.driver,
                config.http.addr,
                access.describe()
            );
            ExitCode::SUCCESS
        }
        Err(e) => config_failure(&e),
    }
}

/// The access controller the configuration asks for, with its files read: a file that
/// cannot be read stops startup (naming the key), never starts an open registry.
pub fn access_control(config: &Config) -> Result<AccessControl, ConfigError> {
    match &config.auth {
        AuthConfig::None => Ok(AccessControl::open()),
        AuthConfig::Htpasswd { realm, path } => {
            let users = Htpasswd::open(path)
                .map_err(|e| ConfigError::new("auth.htpasswd.path", e.to_string()))?;
            Ok(AccessControl::htpasswd(
                realm.clone(),
                users,
                config.access.clone(),
            ))
        }
        AuthConfig::Token(settings) => TokenAuth::new(settings.clone())
            .map(AccessControl::token)
            .map_err(|(key, message)| ConfigError::new(format!("auth.token.{key}"), message)),
    }
}

/// Everything the server needs, opened from a configuration.
pub async fn build_state(config: &Config) -> Result<AppState, ConfigError> {
    let access = access_control(config)?;
    let storage = drivers::open(&config.storage).await?;
    let settings = RegistrySettings {
        delete_enabled: config.storage.delete_enabled,
        read_only: config.storage.read_only,
        max_manifest_bytes: config.max_manifest_bytes,
        catalog_max_entries: config.catalog_max_entries,
        redirect: config.storage.redirect.clone(),
        gc_timing: config.gc.timing,
    };
    Ok(AppState {
        registry: Registry::new(storage, settings),
        access,
        urls: Urls {
            host: config.http.host.clone(),
            prefix: config.http.prefix.clone(),
        },
        stats: Arc::new(Stats::default()),
        body_timeout: config.http.timeouts.body,
    })
}

/// `registry serve`
pub fn serve(path: Option<&Path>) -> ExitCode {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(e) => return config_failure(&e),
    };
    logging::init(&config.log);
    for key in &config.ignored_keys {
        tracing::warn!(
            key = key.as_str(),
            "configuration key not implemented here; ignored"
        );
    }
    // Certificate files are read before storage is opened: a bad one stops startup at once.
    let tls = match config.http.tls.as_ref().map(TlsServer::load).transpose() {
        Ok(tls) => tls,
        Err(e) => return config_failure(&e),
    };
    for warning in config.http.tls.iter().flat_map(|t| &t.warnings) {
        tracing::warn!("{warning}");
    }
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let state = match build_state(&config).await {
            Ok(state) => state,
            Err(e) => return config_failure(&e),
        };
        crate::maintenance::collector::start(&config, state.registry.storage().clone());
        let listener = match TcpListener::bind(config.http.addr) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("registry: cannot listen on {}: {e}", config.http.addr);
                return ExitCode::FAILURE;
            }
        };
        let workers = config.http.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        tracing::info!(
            // The bound address: with port 0 in the config, the one the system picked.
            addr = %listener.local_addr().map_or(config.http.addr, |a| a),
            workers,
            driver = config.storage.driver.as_str(),
            delete = config.storage.delete_enabled,
            read_only = config.storage.read_only,
            redirect = config.storage.redirect.enabled,
            tls = tls.as_ref().map_or("off", TlsServer::mode),
            access_control = state.access.describe(),
            version = env!("CARGO_PKG_VERSION"),
            "registry listening"
        );
        let header_timeout = config.http.timeouts.header;
        let server = match tls {
            None => crate::http::serve(state, listener, Some(workers), header_timeout),
            Some(tls) => {
                crate::http::serve_tls(state, listener, Some(workers), header_timeout, tls)
            }
        };
        let server = match server {
            Ok(server) => server,
            Err(e) => {
                eprintln!("registry: cannot start the HTTP server: {e}");
                return ExitCode::FAILURE;
            }
        };
        match server.await {
            Ok(()) => {
                tracing::info!("registry stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("registry: server error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
