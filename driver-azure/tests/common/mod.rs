//! What the Azurite tests share: where the emulator is.

use registry_core::storage::contract::emulator_env;

/// The emulator named by the `REGISTRY_TEST_AZURE_*` variables (set by `cargo xtask test` or
/// `cargo xtask emulators`); `None`, after printing why, when they are missing.
pub struct Azurite {
    pub service_url: String,
    pub account: String,
    pub key: String,
    pub container: String,
}

impl Azurite {
    pub fn from_env() -> Option<Azurite> {
        let env = emulator_env(
            "azure",
            &[
                "REGISTRY_TEST_AZURE_SERVICE_URL",
                "REGISTRY_TEST_AZURE_ACCOUNT",
                "REGISTRY_TEST_AZURE_KEY",
                "REGISTRY_TEST_AZURE_CONTAINER",
            ],
        )?;
        let [service_url, account, key, container] = <[String; 4]>::try_from(env).ok()?;
        Some(Azurite {
            service_url,
            account,
            key,
            container,
        })
    }
}
