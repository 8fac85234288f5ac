//! The aws-sdk-s3 client configuration for a driver configuration.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};

use crate::config::S3Config;
use crate::retry::TooManyRequests;

/// Attempts per request, including the first; the SDK's standard retry mode backs off
/// exponentially (with jitter) on throttling, 5xx answers and connection failures (and, with
/// [`TooManyRequests`], on 429).
const MAX_ATTEMPTS: u32 = 5;
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// Generous, because S3-compatible servers are often reached over slow links.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The shortest limit on one request, from sending it to the response headers (the body
/// upload included). Stalled transfers are caught sooner by the SDK's stalled-stream
/// protection; this ends requests the server never answers.
const MIN_RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);
/// The slowest upload rate the response timeout allows for a part.
const SLOWEST_RATE: u64 = 1024 * 1024;

/// Builds the SDK configuration: credentials from the driver configuration when given,
/// otherwise the standard AWS chain (environment, profile, web identity, container and
/// instance roles), which needs the async loader.
pub async fn sdk_config(config: &S3Config) -> aws_sdk_s3::Config {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(config.region().to_owned()));
    if let Some(credentials) = config.credentials() {
        loader = loader.credentials_provider(Credentials::new(
            credentials.access_key.clone(),
            credentials.secret_key.clone(),
            credentials.session_token.clone(),
            None,
            "storage.s3",
        ));
    }
    let shared = loader.load().await;

    let mut builder = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(config.force_path_style())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(INITIAL_BACKOFF)
                .with_max_backoff(MAX_BACKOFF),
        )
        .retry_classifier(TooManyRequests)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(response_timeout(config))
                .build(),
        )
        // Checksums only where S3 requires them (DeleteObjects): many S3-compatible services
        // reject the newer default (aws-chunked uploads with trailing CRC32). Payloads stay
        // covered by the SigV4 payload hash.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    match config.endpoint() {
        Some(endpoint) => builder = builder.endpoint_url(endpoint),
        None if !config.secure() => {
            builder = builder.endpoint_url(format!("http://s3.{}.amazonaws.com", config.region()))
        }
        None => {}
    }
    builder.build()
}

/// Long enough for the largest part (or part copy) at the slowest expected rate.
fn response_timeout(config: &S3Config) -> Duration {
    let largest = config.chunk_size().max(config.multipart_copy_chunk_size());
    MIN_RESPONSE_TIMEOUT.max(Duration::from_secs(largest / SLOWEST_RATE))
}
