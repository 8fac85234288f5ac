//! Opens, stats and small reads that the kernel answers from its caches, done on the calling
//! thread instead of the blocking pool.
//!
//! A trip to the blocking pool costs two thread switches, which for a 71-byte link file is most
//! of the work: under a manifest load the server spent more CPU switching threads than serving.
//! Linux can say, without blocking, whether an operation would need the disk: `openat2` with
//! `RESOLVE_CACHED` fails with `EAGAIN` unless every path component is in the dentry cache, and
//! `preadv2` with `RWF_NOWAIT` fails with `EAGAIN` unless the data is in the page cache. Only
//! when the kernel can answer at once is the work done here; otherwise (`None`) the caller goes
//! to the blocking pool as before.
//!
//! Only on local filesystems known to honour these flags: on network filesystems a stat can
//! still wait for the server. tmpfs refuses `RWF_NOWAIT`, but its pages are memory, so plain
//! reads are used there. A kernel or sandbox without these calls turns the fast path off.

use std::fs::{File, Metadata};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Largest file read inline: bigger ones go to the pool even when cached.
pub(crate) const INLINE_READ_LIMIT: u64 = 256 * 1024;

/// The first read's buffer: links and most manifests fit.
const FIRST_READ: usize = 4096;

/// How the root's filesystem takes inline work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filesystem {
    /// Memory-backed (tmpfs): reads never wait for a disk.
    Memory,
    /// A local disk filesystem that answers `RWF_NOWAIT`.
    LocalDisk,
    /// Anything else: everything goes to the blocking pool.
    Other,
}

pub(crate) struct CachedOps {
    filesystem: Filesystem,
    opens: AtomicBool,
    reads: AtomicBool,
}

impl CachedOps {
    /// The fast path for files under `root`.
    pub(crate) fn new(root: &Path) -> Self {
        let filesystem = filesystem_of(root);
        let on = filesystem != Filesystem::Other;
        tracing::debug!(root = %root.display(), ?filesystem, "filesystem driver: inline cached operations {}", if on { "on" } else { "off" });
        CachedOps {
            filesystem,
            opens: AtomicBool::new(on),
            reads: AtomicBool::new(on),
        }
    }

    #[cfg(test)]
    pub(crate) fn filesystem(&self) -> Filesystem {
        self.filesystem
    }

    fn disable(&self, switch: &AtomicBool, what: &str, why: &dyn std::fmt::Display) {
        if switch.swap(false, Ordering::Relaxed) {
            tracing::info!(
                reason = %why,
                "filesystem driver: inline {what} unavailable here; they use the blocking pool"
            );
        }
    }

    /// The metadata of `full` (following symlinks, like `fs::metadata`), if the caches hold it.
    pub(crate) fn metadata(&self, full: &Path) -> Option<io::Result<Metadata>> {
        match self.open(full, false)? {
            Ok(file) => Some(file.metadata()),
            Err(e) => Some(Err(e)),
        }
    }

    /// `full` opened for reading, if no lookup needs the disk. Its reads may still wait.
    pub(crate) fn open_for_reading(&self, full: &Path) -> Option<io::Result<File>> {
        self.open(full, true)
    }

    /// The whole content of `full`, if it is at most `limit` bytes and the caches hold it.
    pub(crate) fn read(&self, full: &Path, limit: u64) -> Option<io::Result<Vec<u8>>> {
        if !self.reads.load(Ordering::Relaxed) {
            return None;
        }
        let file = match self.open(full, true)? {
            Ok(file) => file,
            Err(e) => return Some(Err(e)),
        };
        // Read to the end without a stat first: most files here are links of 71 bytes. A
        // directory answers EISDIR; past `limit` the pool's read takes over.
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut data = vec![0u8; FIRST_READ.min(limit.saturating_add(1))];
        let mut filled = 0;
        loop {
            if filled == data.len() {
                if filled > limit {
                    return None;
                }
                data.resize(data.len().saturating_mul(2).min(limit.saturating_add(1)), 0);
            }
            match self.read_at_nowait(&file, &mut data[filled..], filled as u64)? {
                Ok(0) => {
                    data.truncate(filled);
                    return Some(Ok(data));
                }
                Ok(n) => filled += n,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn filesystem_of(root: &Path) -> Filesystem {
    // Magic numbers from linux/magic.h.
    const TMPFS: i64 = 0x0102_1994;
    const EXT4: i64 = 0xEF53;
    const XFS: i64 = 0x5846_5342;
    const BTRFS: i64 = 0x9123_683E;
    match rustix::fs::statfs(root) {
        // `f_type` is i64 here but narrower on other architectures.
        #[allow(clippy::useless_conversion)]
        Ok(stat) => match i64::from(stat.f_type) {
            TMPFS => Filesystem::Memory,
            EXT4 | XFS | BTRFS => Filesystem::LocalDisk,
            _ => Filesystem::Other,
        },
        Err(_) => Filesystem::Other,
    }
}

#[cfg(not(target_os = "linux"))]
fn filesystem_of(_root: &Path) -> Filesystem {
    Filesystem::Other
}

#[cfg(target_os = "linux")]
impl CachedOps {
    /// Opens `full` for reading (or as a path only), if no lookup needs the disk.
    fn open(&self, full: &Path, for_reading: bool) -> Option<io::Result<File>> {
        use rustix::fs::{CWD, Mode, OFlags, ResolveFlags, openat2};
        use rustix::io::Errno;

        if !self.opens.load(Ordering::Relaxed) {
            return None;
        }
        let access = if for_reading {
            OFlags::RDONLY
        } else {
            OFlags::PATH
        };
        match openat2(
            CWD,
            full,
            access | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::CACHED,
        ) {
            Ok(fd) => Some(Ok(File::from(fd))),
            Err(Errno::AGAIN) => None,
            // Kernels before 5.12 (EINVAL: unknown flag; ENOSYS: no openat2) and seccomp
            // profiles that refuse openat2 (ENOSYS, EPERM).
            Err(e @ (Errno::INVAL | Errno::NOSYS | Errno::PERM)) => {
                self.disable(&self.opens, "opens", &e);
                self.disable(&self.reads, "reads", &e);
                None
            }
            Err(e) => Some(Err(e.into())),
        }
    }

    fn read_at_nowait(
        &self,
        file: &File,
        buf: &mut [u8],
        offset: u64,
    ) -> Option<io::Result<usize>> {
        use rustix::io::{Errno, ReadWriteFlags, preadv2};

        let flags = match self.filesystem {
            Filesystem::Memory => ReadWriteFlags::empty(),
            _ => ReadWriteFlags::NOWAIT,
        };
        loop {
            let mut slices = [io::IoSliceMut::new(buf)];
            return match preadv2(file, &mut slices, offset, flags) {
                Ok(n) => Some(Ok(n)),
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => None,
                // A filesystem or kernel without non-blocking buffered reads.
                Err(e @ (Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS)) => {
                    self.disable(&self.reads, "reads", &e);
                    None
                }
                Err(e) => Some(Err(e.into())),
            };
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl CachedOps {
    fn open(&self, _full: &Path, _for_reading: bool) -> Option<io::Result<File>> {
        None
    }

    fn read_at_nowait(
        &self,
        _file: &File,
        _buf: &mut [u8],
        _offset: u64,
    ) -> Option<io::Result<usize>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_stats_a_cached_file_inline() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("link");
        std::fs::write(&file, b"sha256:abc").unwrap();
        let ops = CachedOps::new(dir.path());
        if ops.filesystem() == Filesystem::Other {
            eprintln!("skipping: the temporary directory is not on tmpfs, ext4, xfs or btrfs");
            return;
        }
        // Just written, so the dentry and the page are cached.
        let read = ops.read(&file, INLINE_READ_LIMIT);
        assert_eq!(read.unwrap().unwrap(), b"sha256:abc");
        let meta = ops.metadata(&file).unwrap().unwrap();
        assert_eq!(meta.len(), 10);
        assert!(ops.metadata(dir.path()).unwrap().unwrap().is_dir());
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn tmpfs_reads_inline_with_plain_reads() {
        if !Path::new("/dev/shm").is_dir() {
            eprintln!("skipping: no /dev/shm");
            return;
        }
        let dir = tempfile::tempdir_in("/dev/shm").unwrap();
        let ops = CachedOps::new(dir.path());
        assert_eq!(ops.filesystem(), Filesystem::Memory);
        let file = dir.path().join("manifest");
        std::fs::write(&file, b"{}").unwrap();
        assert_eq!(ops.read(&file, INLINE_READ_LIMIT).unwrap().unwrap(), b"{}");
    }

    #[test]
    fn missing_files_and_directories_answer_like_std() {
        let dir = tempfile::tempdir().unwrap();
        let ops = CachedOps::new(dir.path());
        let missing = dir.path().join("missing");
        // A negative lookup may or may not be cached; when answered, it must be NotFound.
        if let Some(result) = ops.metadata(&missing) {
            assert_eq!(result.unwrap_err().kind(), io::ErrorKind::NotFound);
        }
        if let Some(result) = ops.read(dir.path(), INLINE_READ_LIMIT) {
            assert_eq!(result.unwrap_err().kind(), io::ErrorKind::IsADirectory);
        }
    }

    #[test]
    fn large_files_are_left_to_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big");
        std::fs::write(&file, vec![1u8; 4096]).unwrap();
        let ops = CachedOps::new(dir.path());
        assert!(ops.read(&file, 1024).is_none());
        assert!(ops.read(&file, 4095).is_none());
    }

    #[test]
    fn files_larger_than_the_first_read_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let ops = CachedOps::new(dir.path());
        if ops.filesystem() == Filesystem::Other {
            eprintln!("skipping: the temporary directory is not on tmpfs, ext4, xfs or btrfs");
            return;
        }
        for size in [
            0,
            1,
            FIRST_READ - 1,
            FIRST_READ,
            FIRST_READ + 1,
            3 * FIRST_READ + 7,
        ] {
            let file = dir.path().join(format!("f{size}"));
            let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            std::fs::write(&file, &content).unwrap();
            assert_eq!(
                ops.read(&file, size as u64).unwrap().unwrap(),
                content,
                "{size} bytes"
            );
        }
    }
}
