use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use registry_core::storage::{
    ByteStream, FileInfo, FileWriter, Result, StorageDriver, StorageError, StoragePath,
    TimedContent,
};

use crate::blocking::BlockingPool;
use crate::cached::{CachedOps, INLINE_READ_LIMIT};
use crate::config::FsConfig;
use crate::files::{create_new, prune_empty_dirs, remove_if_present, rename_into_place, sync_dir};
use crate::names::{io_error, is_content, on_disk, parked, private_temp};
use crate::reader;
use crate::writer::FsWriter;

pub(crate) const NAME: &str = "filesystem";

/// The filesystem driver. Cheap to clone.
#[derive(Clone)]
pub struct FsDriver {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) root: PathBuf,
    pub(crate) pool: BlockingPool,
    pub(crate) fsync: bool,
    pub(crate) cached: CachedOps,
}

impl FsDriver {
    /// Opens (and creates, if needed) the root directory.
    pub fn new(config: FsConfig) -> Result<Self> {
        fs::create_dir_all(&config.root_directory).map_err(|e| {
            StorageError::backend(
                NAME,
                format!(
                    "creating root directory {}",
                    config.root_directory.display()
                ),
                e,
            )
        })?;
        let cached = CachedOps::new(&config.root_directory);
        Ok(FsDriver {
            shared: Arc::new(Shared {
                root: config.root_directory,
                pool: BlockingPool::new(config.max_threads),
                fsync: config.fsync,
                cached,
            }),
        })
    }

    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    pub(crate) fn full(&self, path: &StoragePath) -> PathBuf {
        on_disk(&self.shared.root, path)
    }
}

/// A whole file's content; a directory is not content.
fn content(path: &StoragePath, read: std::io::Result<Vec<u8>>) -> Result<Bytes> {
    match read {
        Ok(data) => Ok(Bytes::from(data)),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => {
            Err(StorageError::not_found(NAME, path))
        }
        Err(e) => Err(io_error(path, "reading", e)),
    }
}

fn timed_content(
    path: &StoragePath,
    read: std::io::Result<(Vec<u8>, fs::Metadata)>,
) -> Result<TimedContent> {
    let (data, meta) = match read {
        Ok((data, meta)) => (Ok(data), Some(meta)),
        Err(e) => (Err(e), None),
    };
    let content = content(path, data)?;
    let mod_time = meta
        .and_then(|m| m.modified().ok())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    Ok(TimedContent { content, mod_time })
}

/// An opened file to stream, with its size; a directory is not content.
impl FsDriver {
    /// The open file and its size.
    async fn open_for_reading(&self, path: &StoragePath) -> Result<(Arc<File>, u64)> {
        let full = self.full(path);
        // The stat of an open file never waits for a disk; only the open may.
        match self.shared.cached.open_for_reading(&full) {
            Some(opened) => readable(path, opened),
            None => {
                let path = path.clone();
                self.shared
                    .pool
                    .run(move || readable(&path, File::open(&full)))
                    .await
            }
        }
    }
}

fn readable(path: &StoragePath, opened: std::io::Result<File>) -> Result<(Arc<File>, u64)> {
    let file = opened.map_err(|e| io_error(path, "opening", e))?;
    let meta = file.metadata().map_err(|e| io_error(path, "opening", e))?;
    if meta.is_dir() {
        return Err(StorageError::not_found(NAME, path));
    }
    Ok((Arc::new(file), meta.len()))
}

fn file_info(path: StoragePath, meta: std::io::Result<fs::Metadata>) -> Result<FileInfo> {
    let meta = meta.map_err(|e| io_error(&path, "stat", e))?;
    Ok(FileInfo {
        size: if meta.is_dir() { 0 } else { meta.len() },
        mod_time: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        is_dir: meta.is_dir(),
        path,
    })
}

#[async_trait]
impl StorageDriver for FsDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn get_content(&self, path: &StoragePath) -> Result<Bytes> {
        let full = self.full(path);
        if let Some(read) = self.shared.cached.read(&full, INLINE_READ_LIMIT) {
            return content(path, read);
        }
        let path = path.clone();
        self.shared
            .pool
            .run(move || content(&path, fs::read(&full)))
            .await
    }

    /// One open, `fstat` and read: the time is that of the file whose content was read.
    async fn get_content_timed(&self, path: &StoragePath) -> Result<TimedContent> {
        let full = self.full(path);
        if let Some(read) = self
            .shared
            .cached
            .read_with_metadata(&full, INLINE_READ_LIMIT)
        {
            return timed_content(path, read);
        }
        let path = path.clone();
        self.shared
            .pool
            .run(move || {
                let read = File::open(&full).and_then(|mut file| {
                    let meta = file.metadata()?;
                    if meta.is_dir() {
                        return Err(std::io::Error::from(std::io::ErrorKind::IsADirectory));
                    }
                    let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
                    file.read_to_end(&mut data)?;
                    Ok((data, meta))
                });
                timed_content(&path, read)
            })
            .await
    }

    async fn put_content(&self, path: &StoragePath, content: Bytes) -> Result<()> {
        let full = self.full(path);
        let path = path.clone();
        let fsync = self.shared.fsync;
        self.shared
            .pool
            .run(move || {
                // A recursive delete of the directory (a tag or blob removed meanwhile) may
                // take the temporary file with it: the put then comes after the delete, so
                // write it again rather than fail.
                let mut attempt = 0;
                loop {
                    let temp = private_temp(&full);
                    let written: std::io::Result<()> = (|| {
                        let mut file = create_new(&temp)?;
                        file.write_all(&content)?;
                        if fsync {
                            file.sync_data()?;
                        }
                        fs::rename(&temp, &full)?;
                        if fsync {
                            sync_dir(full.parent().unwrap_or(Path::new("/")))?;
                        }
                        Ok(())
                    })();
                    match written {
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < 3 => {
                            let _ = remove_if_present(&temp);
                            attempt += 1;
                        }
                        Err(e) => {
                            let _ = remove_if_present(&temp);
                            return Err(io_error(&path, "writing", e));
                        }
                        Ok(()) => return Ok(()),
                    }
                }
            })
            .await
    }

    async fn reader(&self, path: &StoragePath, offset: u64) -> Result<ByteStream> {
        let (file, size) = self.open_for_reading(path).await?;
        if offset > size {
            return Err(StorageError::invalid_offset(NAME, path, offset as i64));
        }
        Ok(reader::chunks(
            self.shared.pool.clone(),
            file,
            size,
            path.clone(),
            offset,
            None,
        ))
    }

    async fn range_reader(
        &self,
        path: &StoragePath,
        offset: u64,
        length: u64,
    ) -> Result<ByteStream> {
        let (file, size) = self.open_for_reading(path).await?;
        let end = offset.saturating_add(length);
        if end > size {
            return Err(StorageError::invalid_offset(
                NAME,
                path,
                i64::try_from(end).unwrap_or(i64::MAX),
            ));
        }
        // Reads stop at the range's end: no read-ahead past it, no probe for growth.
        Ok(reader::chunks(
            self.shared.pool.clone(),
            file,
            size,
            path.clone(),
            offset,
            Some(end),
        ))
    }

    async fn writer(&self, path: &StoragePath, append: bool) -> Result<Box<dyn FileWriter>> {
        Ok(Box::new(FsWriter::open(self, path, append).await?))
    }

    async fn stat(&self, path: &StoragePath) -> Result<FileInfo> {
        let full = self.full(path);
        if let Some(meta) = self.shared.cached.metadata(&full) {
            return file_info(path.clone(), meta);
        }
        let path = path.clone();
        self.shared
            .pool
            .run(move || file_info(path, fs::metadata(&full)))
            .await
    }

    async fn list(&self, path: &StoragePath) -> Result<Vec<StoragePath>> {
        let full = self.full(path);
        let path = path.clone();
        self.shared
            .pool
            .run(move || {
                let entries = fs::read_dir(&full).map_err(|e| io_error(&path, "listing", e))?;
                let mut children = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(|e| io_error(&path, "listing", e))?;
                    let name = entry.file_name();
                    if !is_content(&name) {
                        continue;
                    }
                    if let Some(child) = name.to_str().and_then(|n| path.join(n).ok()) {
                        children.push(child);
                    }
                }
                Ok(children)
            })
            .await
    }

    async fn move_to(&self, source: &StoragePath, dest: &StoragePath) -> Result<()> {
        let (from, to) = (self.full(source), self.full(dest));
        let (source, dest) = (source.clone(), dest.clone());
        let shared = Arc::clone(&self.shared);
        self.shared
            .pool
            .run(move || {
                fs::symlink_metadata(&from).map_err(|e| io_error(&source, "moving", e))?;
                rename_into_place(&from, &to).map_err(|e| {
                    StorageError::backend(NAME, format!("moving {source} to {dest}"), e)
                })?;
                if shared.fsync {
                    sync_dir(to.parent().unwrap_or(Path::new("/")))
                        .map_err(|e| io_error(&dest, "syncing directory of", e))?;
                }
                if let Some(parent) = from.parent() {
                    prune_empty_dirs(&shared.root, parent);
                }
                Ok(())
            })
            .await
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        let full = self.full(path);
        let path = path.clone();
        let root = self.shared.root.clone();
        self.shared
            .pool
            .run(move || {
                let meta =
                    fs::symlink_metadata(&full).map_err(|e| io_error(&path, "deleting", e))?;
                if meta.is_dir() {
                    remove_tree(&full)
                } else {
                    fs::remove_file(&full).and_then(|()| remove_if_present(&parked(&full)))
                }
                .map_err(|e| io_error(&path, "deleting", e))?;
                if let Some(parent) = full.parent() {
                    prune_empty_dirs(&root, parent);
                }
                Ok(())
            })
            .await
    }
}

/// Removes a directory and everything below it, while other requests may create files in it
/// (a tag pushed while it is deleted): the tree is first renamed away, atomically, then
/// removed at leisure.
fn remove_tree(dir: &std::path::Path) -> std::io::Result<()> {
    let doomed = crate::names::doomed(dir);
    fs::rename(dir, &doomed)?;
    let mut attempts = 0;
    loop {
        match fs::remove_dir_all(&doomed) {
            // A file that an operation in flight created just before the rename.
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty && attempts < 5 => {
                attempts += 1;
            }
            other => return other,
        }
    }
}
