//! Retry classification beyond the SDK's: HTTP 429 as throttling.
//!
//! AWS S3 throttles with `503 SlowDown`, which the SDK retries. Several S3-compatible services
//! answer `429 Too Many Requests` instead, often without an error body; the SDK only knows
//! throttling by error code, so such answers would fail at once.

use aws_sdk_s3::config::interceptors::InterceptorContext;
use aws_sdk_s3::config::retry::{ClassifyRetry, RetryAction};

#[derive(Debug, Default)]
pub(crate) struct TooManyRequests;

impl ClassifyRetry for TooManyRequests {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.response() {
            Some(response) if response.status().as_u16() == 429 => RetryAction::throttling_error(),
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "HTTP 429 is throttling"
    }
}
