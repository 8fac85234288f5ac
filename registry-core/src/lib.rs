//! The registry's core: the storage-driver contract every backend implements, and (in later
//! modules) the registry domain and logic that run on top of any driver.

pub mod domain;
pub mod layout;
pub mod lifecycle;
pub mod registry;
pub mod storage;
