use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use registry_core::storage::{FileWriter, Result, StorageError, StoragePath};

use crate::blocking::Pending;
use crate::driver::{FsDriver, NAME, Shared};
use crate::files::{create_new, prune_empty_dirs, remove_if_present, sync_dir};
use crate::names::{io_error, parked, private_temp};

/// Bytes gathered before one blocking write: small client chunks cost one syscall per 2 MiB.
const FLUSH_AT: usize = 256 * 1024;

/// Most slices per `writev` call (the kernel's `IOV_MAX` is 1024).
const MAX_SLICES: usize = 1024;

/// A writer to one path. It writes into either its own temporary file (a new write) or the
/// parked progress of an earlier writer (a resumed one); `commit` renames that file over the
/// path, `close` leaves it parked.
pub(crate) struct FsWriter {
    shared: Arc<Shared>,
    path: StoragePath,
    target: PathBuf,
    current: PathBuf,
    file: Arc<File>,
    /// True while `current` is this writer's own temporary file, which nobody else will find.
    private: bool,
    /// Chunks not yet written, kept as received: one vectored write takes them all, so they
    /// are never copied into a buffer of ours first.
    pending: Vec<Bytes>,
    pending_bytes: usize,
    /// The previous write, still running: one write overlaps the caller's next chunk.
    in_flight: Option<Pending<()>>,
    size: u64,
    finished: bool,
}

impl FsWriter {
    pub(crate) async fn open(driver: &FsDriver, path: &StoragePath, append: bool) -> Result<Self> {
        let target = driver.full(path);
        let opened_path = path.clone();
        let opened_target = target.clone();
        let (current, file, size, private) = driver
            .shared
            .pool
            .run(move || {
                open_blocking(&opened_target, append)
                    .map_err(|e| io_error(&opened_path, "opening writer for", e))
            })
            .await?;
        Ok(FsWriter {
            shared: Arc::clone(&driver.shared),
            path: path.clone(),
            target,
            current,
            file: Arc::new(file),
            private,
            pending: Vec::new(),
            pending_bytes: 0,
            in_flight: None,
            size,
            finished: false,
        })
    }

    /// Writes what is pending and waits for every write to land.
    async fn flush(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            self.write_out().await?;
        }
        self.settle().await
    }

    /// Waits for the write in flight, if any.
    async fn settle(&mut self) -> Result<()> {
        match self.in_flight.take() {
            Some(write) => write.wait().await,
            None => Ok(()),
        }
    }

    /// Starts writing the pending chunks once the previous write finished, without waiting.
    async fn write_out(&mut self) -> Result<()> {
        self.settle().await?;
        let chunks = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let file = Arc::clone(&self.file);
        let path = self.path.clone();
        let write = self
            .shared
            .pool
            .start(move || {
                write_all_vectored(&file, &chunks).map_err(|e| io_error(&path, "writing", e))
            })
            .await?;
        self.in_flight = Some(write);
        Ok(())
    }

    /// Runs a final blocking step on the writer's file and marks the writer finished.
    async fn finish<F>(mut self: Box<Self>, step: F) -> Result<()>
    where
        F: FnOnce(&FinishContext) -> io::Result<()> + Send + 'static,
    {
        self.flush().await?;
        self.finished = true;
        let context = FinishContext {
            shared: Arc::clone(&self.shared),
            file: Arc::clone(&self.file),
            current: self.current.clone(),
            target: self.target.clone(),
            private: self.private,
        };
        let path = self.path.clone();
        self.shared
            .pool
            .run(move || step(&context).map_err(|e| io_error(&path, "finishing write of", e)))
            .await
    }
}

/// Writes every chunk, in order, with as few `writev` calls as the kernel allows.
fn write_all_vectored(mut file: &File, chunks: &[Bytes]) -> io::Result<()> {
    for group in chunks.chunks(MAX_SLICES) {
        let mut slices: Vec<IoSlice<'_>> = group.iter().map(|c| IoSlice::new(c)).collect();
        let mut remaining = &mut slices[..];
        while !remaining.is_empty() {
            match file.write_vectored(remaining) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => IoSlice::advance_slices(&mut remaining, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Opens the file a writer writes into; returns it with its size and whether it is private.
fn open_blocking(target: &Path, append: bool) -> io::Result<(PathBuf, File, u64, bool)> {
    if !append {
        let temp = private_temp(target);
        let file = create_new(&temp)?;
        return Ok((temp, file, 0, true));
    }
    let parked = parked(target);
    match OpenOptions::new().append(true).open(&parked) {
        Ok(file) => {
            let size = file.metadata()?.len();
            Ok((parked, file, size, false))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Nothing parked: extend committed content, in a private copy until commit.
            let mut committed = File::open(target)?;
            if committed.metadata()?.is_dir() {
                return Err(io::Error::from(io::ErrorKind::NotFound));
            }
            let temp = private_temp(target);
            let mut file = create_new(&temp)?;
            let size = io::copy(&mut committed, &mut file)?;
            Ok((temp, file, size, true))
        }
        Err(e) => Err(e),
    }
}

/// What the final step of a writer needs, detached from the writer so it can move to the
/// blocking pool.
struct FinishContext {
    shared: Arc<Shared>,
    file: Arc<File>,
    current: PathBuf,
    target: PathBuf,
    private: bool,
}

impl FinishContext {
    fn sync_file(&self) -> io::Result<()> {
        if self.shared.fsync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn sync_parent(&self) -> io::Result<()> {
        if self.shared.fsync {
            sync_dir(self.target.parent().unwrap_or(Path::new("/")))?;
        }
        Ok(())
    }
}

#[async_trait]
impl FileWriter for FsWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        if self.finished {
            return Err(StorageError::backend(
                NAME,
                "write",
                "writer already finished",
            ));
        }
        if data.is_empty() {
            return Ok(());
        }
        self.size += data.len() as u64;
        self.pending_bytes += data.len();
        self.pending.push(data);
        if self.pending_bytes >= FLUSH_AT || self.pending.len() >= MAX_SLICES {
            self.write_out().await?;
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }

    async fn flush(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        FsWriter::flush(self).await
    }

    async fn close(self: Box<Self>) -> Result<()> {
        self.finish(|cx| {
            cx.sync_file()?;
            if cx.private {
                std::fs::rename(&cx.current, parked(&cx.target))?;
                cx.sync_parent()?;
            }
            Ok(())
        })
        .await
    }

    async fn cancel(mut self: Box<Self>) -> Result<()> {
        // Bytes not yet written are dropped, not written and then removed.
        self.pending.clear();
        self.pending_bytes = 0;
        self.finish(|cx| {
            remove_if_present(&cx.current)?;
            if let Some(parent) = cx.target.parent() {
                prune_empty_dirs(&cx.shared.root, parent);
            }
            Ok(())
        })
        .await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.finish(|cx| {
            cx.sync_file()?;
            std::fs::rename(&cx.current, &cx.target)?;
            cx.sync_parent()
        })
        .await
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        // A writer dropped mid-way (a client hung up): a private temporary file would never be
        // found again, so remove it. Parked progress stays for a later resume.
        if self.finished || !self.private {
            return;
        }
        let temp = self.current.clone();
        let root = self.shared.root.clone();
        let cleanup = move || {
            let _ = remove_if_present(&temp);
            if let Some(parent) = temp.parent() {
                prune_empty_dirs(&root, parent);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(cleanup);
            }
            Err(_) => cleanup(),
        }
    }
}
