//! A driver that confines another below a prefix, so that each GC case has a storage root
//! (`/docker/registry/v2/...`) of its own inside the contract suite's per-case prefix.
//!
//! The layout's long directory names are shortened below the prefix: the S3 emulator fails on
//! keys over about 180 bytes (see /work/shared/notes/emulators.md), and the suite's prefix
//! plus a revision link would pass that. Only the cases' own paths go through this mapping.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::storage::{
    ByteStream, FileInfo, FileWriter, RedirectMethod, Result, Storage, StorageDriver, StoragePath,
    WalkFn,
};

/// Long layout directories and their short names, most specific first.
const SHORT: [(&str, &str); 3] = [
    ("/docker/registry/v2/repositories", "/R"),
    ("/docker/registry/v2/blobs", "/B"),
    ("/docker/registry/v2", "/V"),
];

/// What follows `dir` in `path` (empty, or starting with `/`) when `path` is `dir` or below it.
fn below<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(dir)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

pub struct Prefixed {
    inner: Storage,
    prefix: String,
}

impl Prefixed {
    pub fn new(inner: Storage, prefix: &str) -> Self {
        Prefixed {
            inner,
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    fn map(&self, path: &StoragePath) -> String {
        if path.is_root() {
            return self.prefix.clone();
        }
        let path = path.as_str();
        for (long, short) in SHORT {
            if let Some(rest) = below(path, long) {
                return format!("{}{short}{rest}", self.prefix);
            }
        }
        format!("{}{path}", self.prefix)
    }

    fn unmap(&self, path: &StoragePath) -> StoragePath {
        let rest = path.as_str().strip_prefix(&self.prefix).unwrap_or("/");
        let mut full = if rest.is_empty() {
            "/".to_owned()
        } else {
            rest.to_owned()
        };
        for (long, short) in SHORT {
            if let Some(tail) = below(rest, short) {
                full = format!("{long}{tail}");
                break;
            }
        }
        StoragePath::parse(&full).unwrap_or_else(|_| StoragePath::root())
    }

    fn unmap_info(&self, info: &FileInfo) -> FileInfo {
        FileInfo {
            path: self.unmap(&info.path),
            ..info.clone()
        }
    }
}

#[async_trait]
impl StorageDriver for Prefixed {
    fn name(&self) -> &'static str {
        self.inner.driver_name()
    }

    async fn get_content(&self, path: &StoragePath) -> Result<Bytes> {
        self.inner.get_content(&self.map(path)).await
    }

    async fn put_content(&self, path: &StoragePath, content: Bytes) -> Result<()> {
        self.inner.put_content(&self.map(path), content).await
    }

    async fn reader(&self, path: &StoragePath, offset: u64) -> Result<ByteStream> {
        self.inner
            .reader(&self.map(path), i64::try_from(offset).unwrap_or(i64::MAX))
            .await
    }

    async fn range_reader(
        &self,
        path: &StoragePath,
        offset: u64,
        length: u64,
    ) -> Result<ByteStream> {
        self.inner
            .range_reader(&self.map(path), offset, length)
            .await
    }

    async fn writer(&self, path: &StoragePath, append: bool) -> Result<Box<dyn FileWriter>> {
        self.inner.writer(&self.map(path), append).await
    }

    async fn stat(&self, path: &StoragePath) -> Result<FileInfo> {
        let info = self.inner.stat(&self.map(path)).await?;
        Ok(self.unmap_info(&info))
    }

    async fn list(&self, path: &StoragePath) -> Result<Vec<StoragePath>> {
        let children = self.inner.list(&self.map(path)).await?;
        Ok(children.iter().map(|p| self.unmap(p)).collect())
    }

    async fn move_to(&self, source: &StoragePath, dest: &StoragePath) -> Result<()> {
        self.inner.move_to(&self.map(source), &self.map(dest)).await
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        self.inner.delete(&self.map(path)).await
    }

    async fn redirect_url(
        &self,
        path: &StoragePath,
        method: RedirectMethod,
        expiry: Duration,
    ) -> Result<Option<String>> {
        self.inner
            .redirect_url(&self.map(path), method, expiry)
            .await
    }

    async fn walk(
        &self,
        path: &StoragePath,
        start_after: Option<&StoragePath>,
        visit: &mut WalkFn<'_>,
    ) -> Result<()> {
        let start_after = start_after.map(|p| self.map(p));
        self.inner
            .walk(&self.map(path), start_after.as_deref(), &mut |info| {
                visit(&self.unmap_info(info))
            })
            .await
    }
}
