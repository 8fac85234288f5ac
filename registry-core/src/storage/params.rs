//! A driver's configuration parameters: the map under `storage.<driver>` in the config file.
//!
//! Each driver reads its own keys, so the server needs no knowledge of them. Values may arrive
//! as YAML scalars or, from `REGISTRY_STORAGE_<DRIVER>_<KEY>` environment overrides, as strings;
//! the getters accept both.

use serde_json::{Map, Value};

/// Why a driver's parameters are unusable; names the key so an operator can fix the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterError {
    #[error("storage.{driver}.{key} is required")]
    Missing { driver: &'static str, key: String },
    #[error("storage.{driver}.{key}: {message}")]
    Invalid {
        driver: &'static str,
        key: String,
        message: String,
    },
}

/// The parameters of one driver.
#[derive(Debug, Clone, Default)]
pub struct DriverParameters {
    driver: &'static str,
    values: Map<String, Value>,
}

impl DriverParameters {
    pub fn new(driver: &'static str, values: Map<String, Value>) -> Self {
        DriverParameters { driver, values }
    }

    pub fn driver(&self) -> &'static str {
        self.driver
    }

    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ParameterError {
        ParameterError::Invalid {
            driver: self.driver,
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// The raw value at `key` (keys are matched case-insensitively, as the reference does).
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, ParameterError> {
        match self.value(key) {
            None => Ok(None),
            Some(value) => scalar_text(value).map_err(|m| self.invalid(key, m)),
        }
    }

    pub fn required_string(&self, key: &str) -> Result<String, ParameterError> {
        self.string(key)?.ok_or_else(|| ParameterError::Missing {
            driver: self.driver,
            key: key.to_owned(),
        })
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, ParameterError> {
        match self.value(key) {
            None => Ok(default),
            Some(value) => scalar_bool(value)
                .map(|b| b.unwrap_or(default))
                .map_err(|m| self.invalid(key, m)),
        }
    }

    pub fn u64(&self, key: &str, default: u64) -> Result<u64, ParameterError> {
        match self.value(key) {
            None => Ok(default),
            Some(Value::Number(n)) => n
                .as_u64()
                .ok_or_else(|| self.invalid(key, format!("{n} is not a non-negative integer"))),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(default),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| self.invalid(key, format!("{s:?} is not a non-negative integer"))),
            Some(other) => Err(self.invalid(key, format!("{other} is not an integer"))),
        }
    }

    /// The nested map at `key` (e.g. `credentials`), empty when absent.
    pub fn nested(&self, key: &str) -> Result<DriverParameters, ParameterError> {
        match self.value(key) {
            None => Ok(DriverParameters::new(self.driver, Map::new())),
            Some(Value::Object(map)) => Ok(DriverParameters::new(self.driver, map.clone())),
            Some(_) => Err(self.invalid(key, "expected a mapping")),
        }
    }
}

/// A configuration scalar as text: YAML strings, numbers and booleans alike (environment
/// overrides arrive as strings). `None` for an empty string.
pub fn scalar_text(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err("must be a string".to_owned()),
    }
}

/// A configuration scalar as a boolean: YAML booleans, or `true/yes/on/1` and `false/no/off/0`
/// in any case. `None` for an empty string.
pub fn scalar_bool(value: &Value) -> Result<Option<bool>, String> {
    match value {
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Some(true)),
            "false" | "no" | "off" | "0" => Ok(Some(false)),
            "" => Ok(None),
            _ => Err(format!("{s:?} is not true or false")),
        },
        other => Err(format!("{other} is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> DriverParameters {
        match v {
            Value::Object(map) => DriverParameters::new("test", map),
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn reads_yaml_and_env_style_values() {
        let p = params(json!({"RootDirectory": "/x", "maxthreads": "50", "flag": "true", "n": 7}));
        assert_eq!(p.string("rootdirectory").unwrap().as_deref(), Some("/x"));
        assert_eq!(p.u64("maxthreads", 100).unwrap(), 50);
        assert_eq!(p.u64("n", 1).unwrap(), 7);
        assert_eq!(p.u64("absent", 100).unwrap(), 100);
        assert!(p.bool("flag", false).unwrap());
        assert!(!p.bool("absent", false).unwrap());
    }

    #[test]
    fn errors_name_the_key() {
        let p = params(json!({"maxthreads": "many", "flag": "maybe"}));
        let e = p.u64("maxthreads", 1).unwrap_err().to_string();
        assert!(e.contains("storage.test.maxthreads"), "{e}");
        assert!(p.bool("flag", false).is_err());
        let e = p.required_string("bucket").unwrap_err().to_string();
        assert_eq!(e, "storage.test.bucket is required");
    }
}
