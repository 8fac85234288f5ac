//! `storage.azure` in the config file, with CNCF Distribution's keys.

use std::fmt;

use azure_core::Url;
use registry_core::storage::{DriverParameters, ParameterError};

/// How the driver authenticates to the storage account (`credentials.type`).
#[derive(Clone, PartialEq, Eq)]
pub enum AzureCredentials {
    /// `shared_key` (the default): the account key in `accountkey`. Signs SAS URLs with it.
    SharedKey { account_key: String },
    /// `default_credentials`: azure_identity's chain (environment, including workload identity;
    /// managed identity; Azure CLI). SAS URLs are user-delegation SAS.
    DefaultCredentials,
}

impl fmt::Debug for AzureCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Never print the key: configs end up in logs.
            AzureCredentials::SharedKey { .. } => f.write_str("SharedKey { account_key: *** }"),
            AzureCredentials::DefaultCredentials => f.write_str("DefaultCredentials"),
        }
    }
}

/// Settings of the Azure Blob driver (`storage.azure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureConfig {
    /// `accountname`: the storage account.
    pub account_name: String,
    /// `credentials.type` (with `accountkey` for `shared_key`).
    pub credentials: AzureCredentials,
    /// `container`: where blobs are stored. Created at startup when missing.
    pub container: String,
    /// The blob endpoint: `serviceurl`, or `https://<accountname>.blob.<realm>`. Path-style
    /// endpoints such as Azurite's `http://127.0.0.1:10000/devstoreaccount1` work too.
    pub service_url: Url,
    /// `rootdirectory` without leading or trailing slashes; empty for the container's root.
    pub root_directory: String,
    /// `maxretries`: retries of a request that failed with throttling (429), a 5xx status, a
    /// timeout or an I/O error.
    pub max_retries: u32,
}

impl AzureConfig {
    pub const DEFAULT_REALM: &str = "core.windows.net";
    pub const DEFAULT_MAX_RETRIES: u64 = 5;

    /// A shared-key configuration for `service_url` (used by tests and tools).
    pub fn shared_key(
        account_name: impl Into<String>,
        account_key: impl Into<String>,
        container: impl Into<String>,
        service_url: Url,
    ) -> Self {
        AzureConfig {
            account_name: account_name.into(),
            credentials: AzureCredentials::SharedKey {
                account_key: account_key.into(),
            },
            container: container.into(),
            service_url,
            root_directory: String::new(),
            max_retries: Self::DEFAULT_MAX_RETRIES as u32,
        }
    }

    /// Reads and checks `storage.azure`; every error names the offending key.
    pub fn from_parameters(params: &DriverParameters) -> Result<Self, ParameterError> {
        let account_name = params.required_string("accountname")?;
        check_account_name(&account_name).map_err(|m| params.invalid("accountname", m))?;

        let credentials_params = params.nested("credentials")?;
        let credentials = match credentials_params.string("type")?.as_deref() {
            None | Some("shared_key") => {
                let account_key = params.required_string("accountkey")?;
                if azure_core::base64::decode(account_key.trim()).is_err() {
                    return Err(params.invalid("accountkey", "is not valid base64"));
                }
                AzureCredentials::SharedKey {
                    account_key: account_key.trim().to_owned(),
                }
            }
            Some("default_credentials") => AzureCredentials::DefaultCredentials,
            Some("client_secret") => {
                return Err(params.invalid(
                    "credentials.type",
                    "client_secret is not supported: use default_credentials with \
                     AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET in the environment",
                ));
            }
            Some(other) => {
                return Err(params.invalid(
                    "credentials.type",
                    format!("{other:?} is not one of shared_key, default_credentials"),
                ));
            }
        };

        let container = params.required_string("container")?;
        check_container_name(&container).map_err(|m| params.invalid("container", m))?;

        let realm = params
            .string("realm")?
            .unwrap_or_else(|| Self::DEFAULT_REALM.to_owned());
        let service_url = match params.string("serviceurl")? {
            Some(url) => parse_service_url(&url).map_err(|m| params.invalid("serviceurl", m))?,
            None => parse_service_url(&format!("https://{account_name}.blob.{realm}"))
                .map_err(|m| params.invalid("realm", m))?,
        };

        let root_directory = normalize_root(params.string("rootdirectory")?.as_deref())
            .map_err(|m| params.invalid("rootdirectory", m))?;

        let max_retries = params.u64("maxretries", Self::DEFAULT_MAX_RETRIES)?;
        let max_retries = u32::try_from(max_retries)
            .ok()
            .filter(|n| *n <= 100)
            .ok_or_else(|| params.invalid("maxretries", "must be at most 100"))?;

        Ok(AzureConfig {
            account_name,
            credentials,
            container,
            service_url,
            root_directory,
            max_retries,
        })
    }
}

/// Azure's rule: 3 to 24 lowercase letters and digits.
fn check_account_name(name: &str) -> Result<(), String> {
    let valid = (3..=24).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a storage account name (3 to 24 lowercase letters and digits)"
        ))
    }
}

/// Azure's rule: 3 to 63 characters of lowercase letters, digits and single hyphens, starting
/// and ending with a letter or digit.
fn check_container_name(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let valid = (3..=63).contains(&bytes.len())
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && !name.contains("--");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a container name (3 to 63 lowercase letters, digits and single \
             hyphens, starting and ending with a letter or digit)"
        ))
    }
}

fn parse_service_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{raw:?} must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{raw:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{raw:?} must not carry a query or fragment (SAS tokens are not accepted here)"
        ));
    }
    // The SDK appends the container and blob as path segments: no trailing slash.
    let mut url = url;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// `/registry/` → `registry`; refuses `.`/`..` components, which URLs would resolve away.
fn normalize_root(raw: Option<&str>) -> Result<String, String> {
    let Some(raw) = raw else {
        return Ok(String::new());
    };
    let components: Vec<&str> = raw.split('/').filter(|c| !c.is_empty()).collect();
    if components.iter().any(|c| *c == "." || *c == "..") {
        return Err(format!("{raw:?} must not contain `.` or `..` components"));
    }
    Ok(components.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    fn parse(v: Value) -> Result<AzureConfig, ParameterError> {
        let Value::Object(map) = v else {
            unreachable!("tests pass objects")
        };
        AzureConfig::from_parameters(&DriverParameters::new("azure", map))
    }

    fn error(v: Value) -> String {
        parse(v).expect_err("must be refused").to_string()
    }

    #[test]
    fn minimal_shared_key_config_uses_the_public_endpoint() {
        let config = parse(json!({"accountname": "acct1", "accountkey": KEY, "container": "reg"}))
            .expect("valid");
        assert_eq!(
            config.service_url.as_str(),
            "https://acct1.blob.core.windows.net/"
        );
        assert_eq!(
            config.credentials,
            AzureCredentials::SharedKey {
                account_key: KEY.to_owned()
            }
        );
        assert_eq!(config.root_directory, "");
        assert_eq!(config.max_retries, 5);
        assert!(
            !format!("{config:?}").contains(KEY),
            "the key leaked into Debug"
        );
    }

    #[test]
    fn realm_serviceurl_rootdirectory_and_env_style_values() {
        let config = parse(json!({
            "AccountName": "acct1", "accountkey": KEY, "container": "reg",
            "realm": "core.chinacloudapi.cn", "rootdirectory": "/a/b/", "maxretries": "3",
        }))
        .expect("valid");
        assert_eq!(
            config.service_url.as_str(),
            "https://acct1.blob.core.chinacloudapi.cn/"
        );
        assert_eq!(config.root_directory, "a/b");
        assert_eq!(config.max_retries, 3);

        let config = parse(json!({
            "accountname": "devstoreaccount1", "accountkey": KEY, "container": "reg",
            "serviceurl": "http://127.0.0.1:10000/devstoreaccount1/",
            "credentials": {"type": "shared_key"},
        }))
        .expect("valid");
        assert_eq!(
            config.service_url.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
    }

    #[test]
    fn default_credentials_need_no_key() {
        let config = parse(json!({
            "accountname": "acct1", "container": "reg",
            "credentials": {"type": "default_credentials"},
        }))
        .expect("valid");
        assert_eq!(config.credentials, AzureCredentials::DefaultCredentials);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                json!({"accountkey": KEY, "container": "reg"}),
                "storage.azure.accountname is required",
            ),
            (
                json!({"accountname": "acct1", "container": "reg"}),
                "storage.azure.accountkey is required",
            ),
            (
                json!({"accountname": "acct1", "accountkey": KEY}),
                "storage.azure.container is required",
            ),
            (
                json!({"accountname": "Acct_1", "accountkey": KEY, "container": "reg"}),
                "storage.azure.accountname:",
            ),
            (
                json!({"accountname": "acct1", "accountkey": "not base64!", "container": "reg"}),
                "storage.azure.accountkey: is not valid base64",
            ),
            (
                json!({"accountname": "acct1", "accountkey": KEY, "container": "Reg"}),
                "storage.azure.container:",
            ),
            (
                json!({"accountname": "acct1", "accountkey": KEY, "container": "a--b"}),
                "storage.azure.container:",
            ),
            (
                json!({"accountname": "acct1", "accountkey": KEY, "container": "ab"}),
                "storage.azure.container:",
            ),
            (
                json!({"accountname": "acct1", "accountkey": KEY, "container": "reg", "serviceurl": "ftp://x"}),
                "storage.azure.serviceurl:",
            ),
            (
                json!({"accountname": "acct1", "accountkey": KEY, "container": "reg", "serviceurl": "not a url"}),
                "storage.azure.serviceurl:",
            ),
            (
                json!({"accountname": "acct1", "accountkey": KEY, "container": "reg", "serviceurl": "https://h/?sv=1"}),
                "storage.azure.serviceurl:",
            ),
            (
                json!({"accountname": "acct1", "accountkey": KEY, "container": "reg", "realm": "bad realm"}),
                "storage.azure.realm:",
            ),
            (
                json!({"accountname": "acct1", "accountkey": KEY, "container": "reg", "rootdirectory": "/a/../b"}),
                "storage.azure.rootdirectory:",
            ),
            (
                json!({"accountname": "acct1", "accountkey": KEY, "container": "reg", "maxretries": "many"}),
                "storage.azure.maxretries:",
            ),
            (
                json!({"accountname": "acct1", "accountkey": KEY, "container": "reg", "maxretries": 1000}),
                "storage.azure.maxretries:",
            ),
            (
                json!({"accountname": "acct1", "accountkey": KEY, "container": "reg", "credentials": "shared_key"}),
                "storage.azure.credentials:",
            ),
            (
                json!({"accountname": "acct1", "accountkey": KEY, "container": "reg", "credentials": {"type": "magic"}}),
                "storage.azure.credentials.type:",
            ),
            (
                json!({"accountname": "acct1", "container": "reg", "credentials": {"type": "client_secret"}}),
                "storage.azure.credentials.type: client_secret is not supported",
            ),
        ];
        for (params, expected) in cases {
            let message = error(params.clone());
            assert!(
                message.starts_with(expected),
                "{params}: {message:?} does not start with {expected:?}"
            );
        }
    }
}
