//! The storage emulators the cloud drivers are tested against, installed into the cache
//! directory on first use and started on free loopback ports.
//!
//! Each emulator hands back the environment its tests read (`REGISTRY_TEST_S3_*`,
//! `REGISTRY_TEST_AZURE_*`, `REGISTRY_TEST_REDIS_*`).

pub mod azurite;
pub mod redis;
pub mod s3;

use crate::process::{Result, Service};

/// A running emulator and the environment that points tests at it.
pub struct Emulator {
    /// Keeps the emulator running; dropping it stops the emulator.
    pub _service: Service,
    pub env: Vec<(String, String)>,
}

/// Every emulator, running.
pub struct Emulators {
    pub s3: Emulator,
    pub azurite: Emulator,
    /// Redis without a password.
    pub redis: Emulator,
    /// Redis with `requirepass`.
    pub redis_auth: Emulator,
}

impl Emulators {
    pub fn iter(&self) -> impl Iterator<Item = &Emulator> {
        [&self.s3, &self.azurite, &self.redis, &self.redis_auth].into_iter()
    }

    /// The storage backends the end-to-end scenarios run on.
    pub fn backends(&self) -> Vec<crate::e2e::Backend> {
        use crate::e2e::Backend;
        vec![
            Backend::Filesystem,
            Backend::S3(self.s3.env.clone()),
            Backend::Azure(self.azurite.env.clone()),
        ]
    }
}

/// Starts every emulator.
pub fn start_all() -> Result<Emulators> {
    let (redis, redis_auth) = redis::start()?;
    Ok(Emulators {
        s3: s3::start()?,
        azurite: azurite::start()?,
        redis,
        redis_auth,
    })
}

pub fn serve_until_interrupted() -> Result {
    let emulators = start_all()?;
    for emulator in emulators.iter() {
        for (key, value) in &emulator.env {
            println!("export {key}={value}");
        }
    }
    println!("# emulators running; press Enter to stop them");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(emulators);
    Ok(())
}
