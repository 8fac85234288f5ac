//! The driver's configuration: CNCF Distribution's `storage.s3` keys, validated once at startup
//! so that a bad value stops the server with a message naming the key, not a failed upload later.

use registry_core::storage::{DriverParameters, ParameterError, StoragePath};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// S3's smallest allowed part, except for the last part of an upload.
pub(crate) const MIN_PART_SIZE: u64 = 5 * MIB;
/// S3's largest allowed part, and the largest object a single CopyObject may copy.
pub(crate) const MAX_PART_SIZE: u64 = 5 * GIB;

pub const DEFAULT_CHUNK_SIZE: u64 = 10 * MIB;
pub const DEFAULT_MULTIPART_COPY_CHUNK_SIZE: u64 = 32 * MIB;
pub const DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY: u64 = 100;
pub const DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE: u64 = 32 * MIB;
pub const DEFAULT_STORAGE_CLASS: &str = "STANDARD";

/// Storage classes Distribution accepts, plus `NONE` (send no storage class at all, for
/// S3-compatible services that reject the header).
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "OUTPOSTS",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
    "NONE",
];

/// Static credentials from the configuration; without them the standard AWS chain is used.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets, even in debug logs of the configuration.
        f.debug_struct("StaticCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Server-side encryption applied to every object the driver writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    None,
    /// SSE-S3 (`AES256`).
    S3Managed,
    /// SSE-KMS with the given key, or the bucket's default KMS key.
    Kms {
        key_id: Option<String>,
    },
}

/// A validated S3 driver configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    region: String,
    bucket: String,
    endpoint: Option<String>,
    force_path_style: bool,
    credentials: Option<StaticCredentials>,
    root_prefix: String,
    chunk_size: u64,
    encryption: Encryption,
    storage_class: Option<String>,
    secure: bool,
    multipart_copy_chunk_size: u64,
    multipart_copy_max_concurrency: usize,
    multipart_copy_threshold_size: u64,
}

impl S3Config {
    /// Reads and validates `storage.s3`. Unknown keys are ignored, as Distribution does, so
    /// that existing `registry:2` configurations keep working.
    pub fn from_parameters(params: &DriverParameters) -> Result<S3Config, ParameterError> {
        let region = params.required_string("region")?;
        let bucket = params.required_string("bucket")?;
        let secure = params.bool("secure", true)?;
        let endpoint = params
            .string("regionendpoint")?
            .map(|endpoint| endpoint_url(params, &endpoint, secure))
            .transpose()?;
        if params.bool("skipverify", false)? && uses_tls(endpoint.as_deref(), secure) {
            return Err(params.invalid(
                "skipverify",
                "disabling TLS certificate verification is not supported; add the endpoint's CA \
                 certificate to the trust store (SSL_CERT_FILE or SSL_CERT_DIR) instead",
            ));
        }

        let encryption = if params.bool("encrypt", false)? {
            match params.string("keyid")? {
                Some(key_id) => Encryption::Kms {
                    key_id: Some(key_id),
                },
                None => Encryption::S3Managed,
            }
        } else {
            if params.string("keyid")?.is_some() {
                tracing::warn!("storage.s3.keyid is ignored because storage.s3.encrypt is false");
            }
            Encryption::None
        };

        Ok(S3Config {
            region,
            bucket,
            endpoint,
            force_path_style: params.bool("forcepathstyle", false)?,
            credentials: credentials(params)?,
            root_prefix: root_prefix(params)?,
            chunk_size: size_in_range(
                params,
                "chunksize",
                DEFAULT_CHUNK_SIZE,
                MIN_PART_SIZE,
                MAX_PART_SIZE,
            )?,
            encryption,
            storage_class: storage_class(params)?,
            secure,
            multipart_copy_chunk_size: size_in_range(
                params,
                "multipartcopychunksize",
                DEFAULT_MULTIPART_COPY_CHUNK_SIZE,
                MIN_PART_SIZE,
                MAX_PART_SIZE,
            )?,
            multipart_copy_max_concurrency: size_in_range(
                params,
                "multipartcopymaxconcurrency",
                DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY,
                1,
                10_000,
            )? as usize,
            multipart_copy_threshold_size: size_in_range(
                params,
                "multipartcopythresholdsize",
                DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE,
                0,
                MAX_PART_SIZE,
            )?,
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The endpoint URL (with scheme) for S3-compatible services; `None` means AWS's own.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    pub fn force_path_style(&self) -> bool {
        self.force_path_style
    }

    pub fn credentials(&self) -> Option<&StaticCredentials> {
        self.credentials.as_ref()
    }

    /// The key prefix all objects live under: empty, or `dir/sub/`.
    pub fn root_prefix(&self) -> &str {
        &self.root_prefix
    }

    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    pub fn encryption(&self) -> &Encryption {
        &self.encryption
    }

    /// The storage class sent with every write; `None` when configured as `NONE`.
    pub fn storage_class(&self) -> Option<&str> {
        self.storage_class.as_deref()
    }

    pub fn secure(&self) -> bool {
        self.secure
    }

    pub fn multipart_copy_chunk_size(&self) -> u64 {
        self.multipart_copy_chunk_size
    }

    pub fn multipart_copy_max_concurrency(&self) -> usize {
        self.multipart_copy_max_concurrency
    }

    pub fn multipart_copy_threshold_size(&self) -> u64 {
        self.multipart_copy_threshold_size
    }
}

/// Distribution accepts `regionendpoint` with or without a scheme; without one, `secure`
/// decides between https and http.
fn endpoint_url(
    params: &DriverParameters,
    endpoint: &str,
    secure: bool,
) -> Result<String, ParameterError> {
    let endpoint = endpoint.trim();
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None if secure => ("https".to_owned(), endpoint),
        None => ("http".to_owned(), endpoint),
    };
    if scheme != "http" && scheme != "https" {
        return Err(params.invalid(
            "regionendpoint",
            format!("{endpoint:?}: the scheme must be http or https"),
        ));
    }
    let rest = rest.trim_end_matches('/');
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if !valid_authority(authority) || rest.chars().any(char::is_whitespace) {
        return Err(params.invalid(
            "regionendpoint",
            format!("{endpoint:?} is not a URL with a host (and optional port)"),
        ));
    }
    Ok(format!("{scheme}://{rest}"))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, with a non-empty host and a numeric port.
fn valid_authority(authority: &str) -> bool {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !authority.ends_with(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host_ok = !host.is_empty() && !host.contains('@');
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    host_ok && port_ok
}

fn uses_tls(endpoint: Option<&str>, secure: bool) -> bool {
    match endpoint {
        Some(url) => url.starts_with("https://"),
        None => secure,
    }
}

fn credentials(params: &DriverParameters) -> Result<Option<StaticCredentials>, ParameterError> {
    let access_key = params.string("accesskey")?;
    let secret_key = params.string("secretkey")?;
    let session_token = params.string("sessiontoken")?;
    match (access_key, secret_key) {
        (Some(access_key), Some(secret_key)) => Ok(Some(StaticCredentials {
            access_key,
            secret_key,
            session_token,
        })),
        (None, None) => {
            if session_token.is_some() {
                return Err(params.invalid("sessiontoken", "needs accesskey and secretkey as well"));
            }
            Ok(None)
        }
        (Some(_), None) => Err(params.invalid("secretkey", "is required with accesskey")),
        (None, Some(_)) => Err(params.invalid("accesskey", "is required with secretkey")),
    }
}

/// `rootdirectory` as a key prefix. Its components follow the storage-path rules, so that keys
/// never need escaping and the driver's private `~` names cannot collide with it.
fn root_prefix(params: &DriverParameters) -> Result<String, ParameterError> {
    let Some(root) = params.string("rootdirectory")? else {
        return Ok(String::new());
    };
    let trimmed = root.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    StoragePath::parse(&format!("/{trimmed}"))
        .map_err(|e| params.invalid("rootdirectory", format!("{root:?}: {}", e.reason)))?;
    Ok(format!("{trimmed}/"))
}

fn storage_class(params: &DriverParameters) -> Result<Option<String>, ParameterError> {
    let class = params
        .string("storageclass")?
        .unwrap_or_else(|| DEFAULT_STORAGE_CLASS.to_owned())
        .to_ascii_uppercase();
    if !STORAGE_CLASSES.contains(&class.as_str()) {
        return Err(params.invalid(
            "storageclass",
            format!("{class:?} is not one of {}", STORAGE_CLASSES.join(", ")),
        ));
    }
    Ok((class != "NONE").then_some(class))
}

fn size_in_range(
    params: &DriverParameters,
    key: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ParameterError> {
    let value = params.u64(key, default)?;
    if value < min || value > max {
        return Err(params.invalid(
            key,
            format!("{value} is outside the allowed range {min}..={max}"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NAME;
    use serde_json::{Value, json};

    fn parse(value: Value) -> Result<S3Config, ParameterError> {
        let Value::Object(map) = value else {
            unreachable!("tests pass objects")
        };
        S3Config::from_parameters(&DriverParameters::new(NAME, map))
    }

    #[test]
    fn endpoint_scheme_follows_secure() {
        let c =
            parse(json!({"region": "r", "bucket": "b", "regionendpoint": "minio:9000"})).unwrap();
        assert_eq!(c.endpoint(), Some("https://minio:9000"));
        let c = parse(
            json!({"region": "r", "bucket": "b", "regionendpoint": "minio:9000",
            "secure": "false"}),
        )
        .unwrap();
        assert_eq!(c.endpoint(), Some("http://minio:9000"));
        let c = parse(json!({"region": "r", "bucket": "b",
            "regionendpoint": "http://127.0.0.1:9000/"}))
        .unwrap();
        assert_eq!(c.endpoint(), Some("http://127.0.0.1:9000"));
    }

    #[test]
    fn root_prefix_is_normalised() {
        for (root, prefix) in [
            ("", ""),
            ("/", ""),
            ("/registry", "registry/"),
            ("a/b/", "a/b/"),
        ] {
            let c = parse(json!({"region": "r", "bucket": "b", "rootdirectory": root})).unwrap();
            assert_eq!(c.root_prefix(), prefix, "{root:?}");
        }
    }
}
