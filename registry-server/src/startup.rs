//! From a config file to a running server, with the exit codes operators script against:
//! 0 after a clean shutdown, 2 for a configuration error, 1 for anything else.

use std::net::TcpListener;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use registry_core::registry::{Registry, RegistrySettings};
use registry_core::storage::Storage;

use crate::auth::{AccessControl, Htpasswd, TokenAuth};
use crate::config::{AuthConfig, Config, ConfigError};
use crate::health::checks::{FileCheck, HttpCheck, StorageCheck, TcpCheck};
use crate::health::{Health, HealthBuilder, Schedule};
use crate::http::debug::DebugState;
use crate::http::tls::TlsServer;
use crate::http::{AppState, Urls};
use crate::metrics::Metrics;
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
                "upload purging: {}",
                crate::upload_purger::describe(
                    &config.storage.upload_purging,
                    config.storage.read_only
                )
            );
            println!(
                "ok: {} storage, listening on {}, access control: {}, cache: {}",
                config.storage.driver,
                config.http.addr,
                access.describe(),
                describe_cache(&config)
            );
            println!("{}", describe_operator_endpoints(&config));
            for line in crate::proxy::describe(config.proxy.as_ref()) {
                println!("{line}");
            }
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

/// What happens to blob downloads, for the startup log: `storage.redirect` is on by default,
/// but only some drivers can presign a URL; with the others the registry serves the bytes.
fn describe_redirects(storage: &crate::config::StorageConfig) -> String {
    use registry_core::registry::RedirectTarget;
    let policy = &storage.redirect;
    if !policy.enabled {
        return "off".into();
    }
    let driver = storage.driver.as_str();
    let presigns = matches!(driver, "s3" | "azure");
    match &policy.target {
        RedirectTarget::BaseUrl(base) => format!("to {base} (redirect middleware)"),
        _ if !presigns => format!(
            "off (the {driver} driver cannot presign URLs: the registry serves blobs itself)"
        ),
        RedirectTarget::PublicOrigin(origin) => format!("presigned URLs via {origin}"),
        RedirectTarget::Presigned => "presigned URLs".into(),
    }
}

/// Where health and metrics can be read, for `check-config` and the startup log.
pub fn describe_operator_endpoints(config: &Config) -> String {
    let debug = &config.http.debug;
    let listener = match debug.addr {
        None => "debug listener: off".to_owned(),
        Some(addr) => format!(
            "debug listener on {addr}: /debug/health{}",
            debug
                .metrics_path
                .as_deref()
                .map(|p| format!(", metrics at {p}"))
                .unwrap_or_default()
        ),
    };
    let health = &config.health;
    format!(
        "{listener}; metrics on the main listener: {}; health checks: {}",
        if debug.metrics_on_main { "on" } else { "off" },
        if health.is_empty() {
            "none".to_owned()
        } else {
            format!(
                "storage {}, {} file, {} http, {} tcp",
                if health.storage_driver.is_some() {
                    "on"
                } else {
                    "off"
                },
                health.files.len(),
                health.http.len(),
                health.tcp.len()
            )
        }
    )
}

/// The configured health checks, started on the current runtime. `storage` is the driver
/// without the metrics layer: checks are not client traffic.
fn start_health_checks(
    config: &Config,
    storage: &Storage,
    cache: Option<&Arc<crate::cache::DescriptorCache>>,
    metrics: &Arc<Metrics>,
) -> Result<Health, ConfigError> {
    let health = &config.health;
    let mut checks = HealthBuilder::new(Arc::clone(metrics));
    // Redis on the storage check's schedule (the reference's default without it); advisory,
    // since requests fall back to storage while it fails.
    if let Some(cache) = cache.filter(|c| c.kind() == "redis") {
        let schedule = health.storage_driver.unwrap_or(Schedule {
            interval: std::time::Duration::from_secs(10),
            threshold: 3,
        });
        checks.add_advisory(
            Arc::new(crate::health::checks::CacheCheck {
                cache: Arc::clone(cache),
            }),
            schedule,
        );
    }
    if let Some(schedule) = health.storage_driver {
        checks.add(
            Arc::new(StorageCheck {
                storage: storage.clone(),
            }),
            schedule,
        );
    }
    for file in &health.files {
        let schedule = Schedule {
            interval: file.interval,
            threshold: 1,
        };
        checks.add(
            Arc::new(FileCheck {
                path: file.path.clone(),
            }),
            schedule,
        );
    }
    for (i, http) in health.http.iter().enumerate() {
        let check = HttpCheck::new(
            http.uri.clone(),
            http.headers.clone(),
            http.status,
            http.timeout,
        )
        .map_err(|m| ConfigError::new(format!("health.http[{i}]"), m))?;
        checks.add(Arc::new(check), http.schedule);
    }
    for tcp in &health.tcp {
        let check = TcpCheck {
            addr: tcp.addr.clone(),
            timeout: tcp.timeout,
        };
        checks.add(Arc::new(check), tcp.schedule);
    }
    Ok(checks.start())
}

/// What the debug listener serves for `state`.
pub fn debug_state(config: &Config, state: &AppState) -> DebugState {
    DebugState {
        health: state.health.clone(),
        metrics: Arc::clone(&state.metrics),
        metrics_path: config.http.debug.metrics_path.clone(),
    }
}

/// Everything the server needs, opened from a configuration. Starts the health checks, so
/// it must run on a Tokio runtime.
pub async fn build_state(config: &Config) -> Result<AppState, ConfigError> {
    let access = access_control(config)?;
    let unmetered = drivers::open(&config.storage).await?;
    let metrics = Arc::new(Metrics::new());
    let cache = config
        .cache
        .as_ref()
        .map(|cache| crate::cache::DescriptorCache::open(cache, &config.storage, &metrics))
        .transpose()?;
    let health = start_health_checks(config, &unmetered, cache.as_ref(), &metrics)?;
    let metered = Storage::new(metrics.meter_driver(Arc::clone(unmetered.driver())));
    // The cache wraps the metered driver, so that the storage operations counted are the ones
    // that reached the backend, and every user of storage goes through the cache (and
    // invalidates it).
    let storage = match &cache {
        Some(cache) => crate::cache::CachedDriver::wrap(&metered, cache.clone()),
        None => metered,
    };
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
        metrics,
        health,
        metrics_on_main: config.http.debug.metrics_on_main,
        body_timeout: config.http.timeouts.body,
        cache,
        proxy: crate::proxy::Proxy::from_config(config.proxy.as_ref())?,
        ui_enabled: config.ui.enabled,
    })
}

/// The blob-descriptor cache for the startup line: `none`, `inmemory`, or Redis's address.
fn describe_cache(config: &Config) -> String {
    match &config.cache {
        None => "none".into(),
        Some(crate::config::CacheConfig::InMemory { entries }) => {
            format!("inmemory ({entries} entries)")
        }
        Some(crate::config::CacheConfig::Redis(redis)) => redis.describe(),
    }
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
            cache = describe_cache(&config),
            redirect = describe_redirects(&config.storage).as_str(),
            tls = tls.as_ref().map_or("off", TlsServer::mode),
            access_control = state.access.describe(),
            ui = state.ui_enabled,
            version = env!("CARGO_PKG_VERSION"),
            "registry listening"
        );
        let debug = match config.http.debug.addr {
            None => None,
            Some(addr) => {
                let listener = match TcpListener::bind(addr) {
                    Ok(listener) => listener,
                    Err(e) => {
                        eprintln!("registry: cannot listen on {addr} (http.debug.addr): {e}");
                        return ExitCode::FAILURE;
                    }
                };
                tracing::info!(
                    addr = %listener.local_addr().map_or(addr, |a| a),
                    metrics = config.http.debug.metrics_path.as_deref().unwrap_or("off"),
                    "debug listener (/debug/health)"
                );
                match crate::http::debug::serve(debug_state(&config, &state), listener) {
                    Ok(server) => Some(server),
                    Err(e) => {
                        eprintln!("registry: cannot start the debug listener: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        };
        let debug_handle = debug.map(|server| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        crate::upload_purger::start(
            state.registry.storage().clone(),
            config.storage.upload_purging,
            config.storage.read_only,
        );
        for line in crate::proxy::describe(config.proxy.as_ref()) {
            tracing::info!("{line}");
        }
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
        let served = server.await;
        if let Some(debug) = debug_handle {
            debug.stop(true).await;
        }
        match served {
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
