//! Structured logs with `tracing`: text or JSON, at `log.level` unless `RUST_LOG` says more.

use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogConfig, LogFormat};

pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},actix_server=warn", config.level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match config.format {
        LogFormat::Text => builder.finish().with(ProbeErrorsAtDebug).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .finish()
            .with(ProbeErrorsAtDebug)
            .try_init(),
    };
    // Already initialised (tests starting several servers): keep the first subscriber.
    let _ = result;
}

/// actix-http logs a request head it cannot parse as an ERROR ("stream error: invalid Header
/// provided"). On a plain-HTTP port that is what every client probing for HTTPS first sends
/// (docker, skopeo, buildah: one per session), and the reference logs nothing: this layer
/// drops that event and logs it again at debug, where it helps someone debugging clients.
struct ProbeErrorsAtDebug;

const DISPATCHER: &str = "actix_http::h1::dispatcher";

impl<S: Subscriber> Layer<S> for ProbeErrorsAtDebug {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if meta.target() != DISPATCHER || *meta.level() != Level::ERROR {
            return true;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        if !message.0.contains("invalid Header provided") {
            return true;
        }
        tracing::debug!(
            target: "registry_server::http",
            error = message.0.as_str(),
            "unparsable request head (a TLS handshake on this plain-HTTP port?); connection closed"
        );
        false
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}
