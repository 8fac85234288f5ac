//! Where requests follow the garbage collector's protocol ([`crate::lifecycle::protocol`]):
//! the registry's side of it, in one place, so that a newcomer finds every caller here.

use super::Registry;
use super::error::Result;
use crate::lifecycle::protocol::{self, Reliance, Target};

impl Registry {
    /// Checks content the request is about to link against the collector's doom markers.
    pub(crate) async fn rely_on(&self, targets: Vec<Target>) -> Result<Reliance> {
        Ok(protocol::rely_on(&self.storage, &self.settings.gc_timing, targets).await?)
    }

    /// Call right before the write that links what `reliance` covers.
    pub(crate) async fn confirm_reliance(&self, reliance: &mut Reliance) -> Result<()> {
        Ok(reliance
            .confirm(&self.storage, &self.settings.gc_timing)
            .await?)
    }
}
