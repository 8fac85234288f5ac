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
        self.read_to_end(&file, limit)
    }

    /// The whole content of `full` and its metadata (an `fstat` of the open file, so both
    /// describe the same file even if it is replaced meanwhile), if it is at most `limit`
    /// bytes and the caches hold it.
    pub(crate) fn read_with_metadata(
        &self,
        full: &Path,
        limit: u64,
    ) -> Option<io::Result<(Vec<u8>, Metadata)>> {
        if !self.reads.load(Ordering::Relaxed) {
            return None;
        }
        let file = match self.open(full, true)? {
            Ok(file) => file,
            Err(e) => return Some(Err(e)),
        };
        let meta = match file.metadata() {
            Ok(meta) => meta,
            Err(e) => return Some(Err(e)),
        };
        if meta.is_dir() {
            return Some(Err(io::Error::from(io::ErrorKind::IsADirectory)));
        }
        if meta.len() > limit {
            return None;
        }
        Some(self.read_to_end(&file, limit)?.map(|data| (data, meta)))
    }

    /// The rest of `file` from its start, if it is at most `limit` bytes and its pages are
    /// cached.
    fn read_to_end(&self, file: &File, limit: u64) -> Option<io::Result<Vec<u8>>> {
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
            match self.read_at_nowait(file, &mut data[filled..], filled as u64)? {
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
                // ext4 answers a directory's RWF_NOWAIT read with EOPNOTSUPP, not EISDIR: that
                // says nothing about files, so it must not turn inline reads off.
                Err(Errno::OPNOTSUPP) if file.metadata().is_ok_and(|m| m.is_dir()) => {
                    Some(Err(io::Error::from(io::ErrorKind::IsADirectory)))
                }
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

    /// Temporary directories where the fast path is on: the system's temporary directory
    /// when its filesystem takes inline work, and one on tmpfs (`/dev/shm`). Overlay
    /// filesystems (containers) take none, so tmpfs is what makes these tests check
    /// something everywhere. With neither, nothing can be checked: under `cargo xtask test`
    /// (`REGISTRY_FULL_TEST_RUN`) that is a failure; under plain `cargo test` it is printed.
    fn fast_path_dirs() -> Vec<tempfile::TempDir> {
        let mut dirs = Vec::new();
        let system = tempfile::tempdir().unwrap();
        if CachedOps::new(system.path()).filesystem() != Filesystem::Other {
            dirs.push(system);
        }
        if Path::new("/dev/shm").is_dir()
            && let Ok(shm) = tempfile::tempdir_in("/dev/shm")
            && CachedOps::new(shm.path()).filesystem() == Filesystem::Memory
        {
            dirs.push(shm);
        }
        if dirs.is_empty() {
            let why = "no directory here takes the inline fast path (temporary directory not on \
                       tmpfs, ext4, xfs or btrfs, and no tmpfs at /dev/shm)";
            assert!(
                std::env::var_os("REGISTRY_FULL_TEST_RUN").is_none(),
                "{why}"
            );
            eprintln!("not checked: {why}");
        }
        dirs
    }

    /// The fast path must still be on after a test's operations: a kernel that refused the
    /// calls would have turned it off, and the test would have checked the pool instead.
    fn assert_still_on(ops: &CachedOps) {
        assert!(
            ops.opens.load(Ordering::Relaxed) && ops.reads.load(Ordering::Relaxed),
            "the kernel refused openat2(RESOLVE_CACHED) or preadv2(RWF_NOWAIT) here"
        );
    }

    #[test]
    fn reads_and_stats_a_cached_file_inline() {
        for dir in fast_path_dirs() {
            let file = dir.path().join("link");
            std::fs::write(&file, b"sha256:abc").unwrap();
            let ops = CachedOps::new(dir.path());
            // Just written, so the dentry and the page are cached.
            let read = ops.read(&file, INLINE_READ_LIMIT).expect("answered inline");
            assert_eq!(read.unwrap(), b"sha256:abc");
            let meta = ops.metadata(&file).expect("answered inline").unwrap();
            assert_eq!(meta.len(), 10);
            assert!(
                ops.metadata(dir.path())
                    .expect("answered inline")
                    .unwrap()
                    .is_dir()
            );
            assert_still_on(&ops);
        }
    }

    #[test]
    fn reads_a_cached_file_with_its_metadata_inline() {
        for dir in fast_path_dirs() {
            let file = dir.path().join("link");
            std::fs::write(&file, b"sha256:abc").unwrap();
            let ops = CachedOps::new(dir.path());
            let (data, meta) = ops
                .read_with_metadata(&file, INLINE_READ_LIMIT)
                .expect("answered inline")
                .unwrap();
            assert_eq!(data, b"sha256:abc");
            assert_eq!(meta.len(), 10);
            assert_eq!(
                meta.modified().unwrap(),
                std::fs::metadata(&file).unwrap().modified().unwrap()
            );
            // Past the limit the pool answers; a directory is no content.
            assert!(ops.read_with_metadata(&file, 9).is_none());
            let answer = ops
                .read_with_metadata(dir.path(), INLINE_READ_LIMIT)
                .expect("a cached directory");
            assert_eq!(answer.unwrap_err().kind(), io::ErrorKind::IsADirectory);
            assert_still_on(&ops);
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn tmpfs_is_memory() {
        let Ok(dir) = tempfile::tempdir_in("/dev/shm") else {
            assert!(
                std::env::var_os("REGISTRY_FULL_TEST_RUN").is_none(),
                "no tmpfs at /dev/shm"
            );
            eprintln!("not checked: no tmpfs at /dev/shm");
            return;
        };
        let ops = CachedOps::new(dir.path());
        assert_eq!(ops.filesystem(), Filesystem::Memory);
        let file = dir.path().join("manifest");
        std::fs::write(&file, b"{}").unwrap();
        assert_eq!(ops.read(&file, INLINE_READ_LIMIT).unwrap().unwrap(), b"{}");
    }

    #[test]
    fn missing_files_and_directories_answer_like_std() {
        for dir in fast_path_dirs() {
            let ops = CachedOps::new(dir.path());
            let missing = dir.path().join("missing");
            // On disk filesystems a failed lookup leaves a negative dentry, which the cached
            // lookup then finds. tmpfs keeps no negative dentries: there the lookup always
            // goes to the pool, and only a wrong inline answer could be checked.
            assert_eq!(
                std::fs::metadata(&missing).unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
            match (ops.filesystem(), ops.metadata(&missing)) {
                (_, Some(answer)) => {
                    assert_eq!(answer.unwrap_err().kind(), io::ErrorKind::NotFound)
                }
                (Filesystem::Memory, None) => {}
                (_, None) => panic!("a negative lookup on a disk filesystem is cached"),
            }
            let answer = ops
                .read(dir.path(), INLINE_READ_LIMIT)
                .expect("a cached directory");
            assert_eq!(answer.unwrap_err().kind(), io::ErrorKind::IsADirectory);
            assert_still_on(&ops);
        }
    }

    #[test]
    fn large_files_are_left_to_the_pool() {
        for dir in fast_path_dirs() {
            let file = dir.path().join("big");
            std::fs::write(&file, vec![1u8; 4096]).unwrap();
            let ops = CachedOps::new(dir.path());
            assert!(ops.read(&file, 1024).is_none());
            assert!(ops.read(&file, 4095).is_none());
            // Not because the fast path is off: within the limit it answers.
            assert_eq!(ops.read(&file, 4096).expect("inline").unwrap().len(), 4096);
            assert_still_on(&ops);
        }
    }

    #[test]
    fn files_larger_than_the_first_read_are_read_whole() {
        for dir in fast_path_dirs() {
            let ops = CachedOps::new(dir.path());
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
                    ops.read(&file, size as u64).expect("inline").unwrap(),
                    content,
                    "{size} bytes"
                );
            }
            assert_still_on(&ops);
        }
    }
}
