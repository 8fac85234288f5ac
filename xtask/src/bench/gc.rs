//! Offline garbage collection (issue 13): `registry garbage-collect` and the reference's
//! `docker-registry garbage-collect` on the same generated storage root ([`gc_root`]), on the
//! filesystem and on the S3 emulator (s3s-fs), each run on a fresh copy of the root.
//!
//! Per run: wall time, peak memory (max RSS of the collector process, from `/usr/bin/time`),
//! what was removed, and whether the blobs left are exactly the ones the generator says the
//! mode must keep (and so the same for both registries). Storage operations are counted the
//! same way for both: on S3, the requests s3s-fs resolves (its `s3s::ops` debug log names
//! each operation), by operation; on the filesystem, the file-system system calls of a
//! second, untimed run under `strace -f -c`.
//!
//! Run alone with `cargo xtask bench --only gc`; writes docs/BENCHMARKS-gc.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Options;
use super::gc_root::{self, Generated, Scale};
use crate::e2e::registry::{Backend, Kind};
use crate::emulators::s3;
use crate::process::{Result, Service, free_port, wait_for_port};

/// Our collector waits its reliance window `W` between dooming candidates and the second mark
/// (the online protocol, which the offline command shares). The bench sets it to 1 s so the
/// figures show the collection work; the default (30 s) adds 29 s to every run of ours.
const RELIANCE_WINDOW: &str = "1s";
/// The system calls counted on the filesystem: those naming a path (open, stat, unlink,
/// mkdir, rename...), directory reads and file reads. Not `write`: the reference prints a
/// line per manifest and blob, which would count as storage work.
const FILE_SYSCALLS: &str = "%file,getdents64,read,pread64";
/// The key prefix of the root in the bucket.
const S3_ROOT: &str = "gc";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Filesystem,
    S3,
}

impl Storage {
    fn label(self) -> &'static str {
        match self {
            Storage::Filesystem => "filesystem",
            Storage::S3 => "S3 (s3s-fs)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Mark and sweep: every manifest revision stays; unreferenced blobs go.
    Plain,
    /// `--delete-untagged`: manifests no tag reaches go first.
    DeleteUntagged,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Plain => "mark and sweep",
            Mode::DeleteUntagged => "`--delete-untagged`",
        }
    }
}

/// One collection.
pub struct Row {
    pub storage: Storage,
    pub mode: Mode,
    pub kind: Kind,
    pub seconds: f64,
    pub peak_kib: u64,
    /// Storage operations by name (S3 operation or system call).
    pub operations: BTreeMap<String, u64>,
    pub blobs_marked: u64,
    pub blobs_removed: u64,
    pub manifests_removed: u64,
    pub blobs_left: usize,
    /// The blobs left are exactly those the mode must keep.
    pub left_as_expected: bool,
}

impl Row {
    fn operations_total(&self) -> u64 {
        self.operations.values().sum()
    }
}

/// What a collector printed, reduced to counts.
struct Counts {
    blobs_marked: u64,
    blobs_removed: u64,
    manifests_removed: u64,
}

/// One collector invocation, measured.
struct Measured {
    seconds: f64,
    peak_kib: u64,
    counts: Counts,
}

/// A generated root and its size.
pub struct Root {
    pub scale: Scale,
    pub files: usize,
    path: PathBuf,
    generated: Generated,
}

fn generate(work: &Path, name: &str, scale: Scale) -> Result<Root> {
    let path = work.join(name);
    let started = Instant::now();
    println!(
        "xtask bench gc: generating {} repositories, {} manifests, {} blobs",
        scale.repositories,
        scale.manifests(),
        scale.blobs()
    );
    let generated = gc_root::generate(&path, scale)?;
    println!(
        "xtask bench gc: {} files in {:.1} s",
        generated.files,
        started.elapsed().as_secs_f64()
    );
    Ok(Root {
        scale,
        files: generated.files,
        path,
        generated,
    })
}

/// The rows, and the roots of the filesystem and the S3 rows.
pub fn run(options: &Options, binary: &Path, work: &Path) -> Result<(Vec<Row>, Root, Root)> {
    crate::process::ensure_apt(&[
        ("docker-registry", "docker-registry"),
        ("strace", "strace"),
        ("time", "time"),
    ])?;
    let fs_root = generate(
        work,
        "generated-fs",
        if options.quick {
            Scale::QUICK
        } else {
            Scale::FULL
        },
    )?;
    // s3s-fs answers every ListObjectsV2 by scanning the bucket's directory tree (all of it
    // without a delimiter, everything below the prefix with one), and both collectors list
    // for every delete: at full scale a run would take hours on the emulator, whatever the
    // registry (at a hundredth, 550 s for ours, 81 s for the reference). A five-hundredth
    // still shows storage operations per blob and manifest.
    let s3_root = generate(work, "generated-s3", Scale::S3_EMULATOR)?;
    let s3s = s3::ensure_installed()?;
    let mut rows = Vec::new();
    for mode in [Mode::Plain, Mode::DeleteUntagged] {
        for kind in [Kind::Ours, Kind::Reference] {
            rows.push(on_filesystem(kind, mode, binary, work, &fs_root)?);
        }
        for kind in [Kind::Ours, Kind::Reference] {
            rows.push(on_s3(kind, mode, binary, &s3s, work, &s3_root)?);
        }
    }
    Ok((rows, fs_root, s3_root))
}

/// `cp -a` of the generated root to `to` (which must not exist).
fn copy_root(from: &Path, to: &Path) -> Result {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    crate::process::run(Command::new("cp").arg("-a").arg(from).arg(to))
}

fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

fn expected(generated: &Generated, mode: Mode) -> &std::collections::BTreeSet<String> {
    match mode {
        Mode::Plain => &generated.keep_all_revisions,
        Mode::DeleteUntagged => &generated.keep_tagged,
    }
}

fn on_filesystem(kind: Kind, mode: Mode, binary: &Path, work: &Path, source: &Root) -> Result<Row> {
    let (generated_root, generated) = (&source.path, &source.generated);
    println!(
        "xtask bench gc: {} on the filesystem, {}",
        kind.name(),
        mode.label()
    );
    let run_dir = work.join(format!("fs-{}", kind.name()));
    let root = run_dir.join("root");
    remove(&run_dir);
    copy_root(generated_root, &root)?;
    let config = write_config(kind, &run_dir, &Backend::Filesystem.storage_yaml(&root, ""))?;
    let measured = collect(kind, mode, binary, &config, &run_dir)?;
    let left = gc_root::surviving_blobs(&root)?;
    remove(&root);

    // The untimed pass under strace, on another fresh copy.
    copy_root(generated_root, &root)?;
    let operations = count_syscalls(kind, mode, binary, &config, &run_dir)?;
    remove(&run_dir);
    Ok(row(
        Storage::Filesystem,
        mode,
        kind,
        measured,
        operations,
        &left,
        generated,
    ))
}

fn on_s3(
    kind: Kind,
    mode: Mode,
    binary: &Path,
    s3s: &Path,
    work: &Path,
    source: &Root,
) -> Result<Row> {
    let (generated_root, generated) = (&source.path, &source.generated);
    println!(
        "xtask bench gc: {} on S3 (s3s-fs), {}",
        kind.name(),
        mode.label()
    );
    let run_dir = work.join(format!("s3-{}", kind.name()));
    remove(&run_dir);
    let data = run_dir.join("s3-data");
    // s3s-fs keeps an object as the file `<data>/<bucket>/<key>`; its metadata files are
    // optional (it computes the ETag when there is none), so a copy is a bucket's content.
    let root = data.join(s3::BUCKET).join(S3_ROOT);
    copy_root(generated_root, &root)?;
    let port = free_port()?;
    let log_path = run_dir.join("s3s-fs.log");
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log_copy = log.try_clone().map_err(|e| e.to_string())?;
    let mut emulator = Service::spawn(
        "s3s-fs",
        Command::new(s3s)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--access-key",
                s3::ACCESS_KEY,
                "--secret-key",
                s3::SECRET_KEY,
            ])
            .arg(&data)
            // One `resolved route, op: <Operation>` line per request, which is what is counted.
            .env("RUST_LOG", "s3s::ops=debug")
            .stdout(log_copy)
            .stderr(log),
    )?;
    wait_for_port(port, Duration::from_secs(20), "s3s-fs")?;
    emulator.check_running()?;
    // The keys both registries read (as `Backend::S3` writes them for the e2e tests).
    let storage = format!(
        "  s3:\n    region: {}\n    bucket: {}\n    regionendpoint: http://127.0.0.1:{port}\n    forcepathstyle: true\n    accesskey: {}\n    secretkey: {}\n    rootdirectory: /{S3_ROOT}\n",
        s3::REGION,
        s3::BUCKET,
        s3::ACCESS_KEY,
        s3::SECRET_KEY
    );
    let config = write_config(kind, &run_dir, &storage)?;
    let measured = collect(kind, mode, binary, &config, &run_dir);
    drop(emulator);
    let measured = measured?;
    let operations = count_s3_operations(&log_path)?;
    let left = gc_root::surviving_blobs(&root)?;
    remove(&run_dir);
    Ok(row(
        Storage::S3,
        mode,
        kind,
        measured,
        operations,
        &left,
        generated,
    ))
}

fn row(
    storage: Storage,
    mode: Mode,
    kind: Kind,
    measured: Measured,
    operations: BTreeMap<String, u64>,
    left: &std::collections::BTreeSet<String>,
    generated: &Generated,
) -> Row {
    let want = expected(generated, mode);
    if left != want {
        let missing = want.difference(left).count();
        let extra = left.difference(want).count();
        println!(
            "xtask bench gc: {} left {} blobs: {missing} that should stay are gone, {extra} that should go are left",
            kind.name(),
            left.len()
        );
    }
    Row {
        storage,
        mode,
        kind,
        seconds: measured.seconds,
        peak_kib: measured.peak_kib,
        operations,
        blobs_marked: measured.counts.blobs_marked,
        blobs_removed: measured.counts.blobs_removed,
        manifests_removed: measured.counts.manifests_removed,
        blobs_left: left.len(),
        left_as_expected: left == want,
    }
}

/// The `config.yml` each registry reads: the storage section, deletes on, and for ours the
/// bench's reliance window.
fn write_config(kind: Kind, dir: &Path, storage: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let gc = match kind {
        Kind::Ours => format!("gc:\n  reliancewindow: {RELIANCE_WINDOW}\n"),
        Kind::Reference => String::new(),
    };
    let yaml = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n{storage}  delete:\n    enabled: true\n{gc}http:\n  addr: 127.0.0.1:0\n  secret: bench-gc-secret\n"
    );
    let path = dir.join(format!("{}.yml", kind.name()));
    std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The collector's command line, after `wrapper` (e.g. `/usr/bin/time ...`).
fn collector(kind: Kind, mode: Mode, binary: &Path, config: &Path, wrapper: &[&str]) -> Command {
    let (program, mut args): (PathBuf, Vec<&str>) = match kind {
        Kind::Ours => (binary.into(), vec!["garbage-collect", "--quiet", "--json"]),
        Kind::Reference => ("docker-registry".into(), vec!["garbage-collect"]),
    };
    if mode == Mode::DeleteUntagged {
        args.push("--delete-untagged");
    }
    let mut command = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            c
        }
        None => Command::new(program),
    };
    // The reference's S3 driver panics on start-up when this is set.
    command.args(args).arg(config).env_remove("AWS_CA_BUNDLE");
    command
}

/// Runs the collector under `/usr/bin/time`: wall time, peak RSS, and its counts.
fn collect(kind: Kind, mode: Mode, binary: &Path, config: &Path, dir: &Path) -> Result<Measured> {
    let time_file = dir.join(format!("{}.time", kind.name()));
    let stdout_path = dir.join(format!("{}.out", kind.name()));
    let stderr_path = dir.join(format!("{}.err", kind.name()));
    let time_arg = time_file.to_string_lossy().into_owned();
    let mut command = collector(
        kind,
        mode,
        binary,
        config,
        &["/usr/bin/time", "-f", "%M", "-o", &time_arg],
    );
    let stdout = std::fs::File::create(&stdout_path).map_err(|e| e.to_string())?;
    let stderr = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let status = command
        .stdout(stdout)
        .stderr(stderr)
        .status()
        .map_err(|e| format!("{command:?}: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let output = std::fs::read_to_string(&stdout_path).map_err(|e| e.to_string())?;
    if !status.success() {
        let errors = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        return Err(format!(
            "{} garbage-collect failed ({status}): {}",
            kind.name(),
            tail(&errors)
        ));
    }
    let peak_kib = std::fs::read_to_string(&time_file)
        .map_err(|e| e.to_string())?
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next_back()
        .ok_or_else(|| format!("{}: no peak RSS", time_file.display()))?;
    let counts = match kind {
        Kind::Ours => our_counts(&output)?,
        Kind::Reference => reference_counts(&output)?,
    };
    println!(
        "xtask bench gc: {} took {seconds:.1} s, peak {} MiB, removed {} blobs and {} manifests",
        kind.name(),
        peak_kib / 1024,
        counts.blobs_removed,
        counts.manifests_removed
    );
    Ok(Measured {
        seconds,
        peak_kib,
        counts,
    })
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(2000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

/// Our `--json` report.
fn our_counts(output: &str) -> Result<Counts> {
    let report: serde_json::Value = serde_json::from_str(output)
        .map_err(|e| format!("ours printed no JSON report ({e}): {}", tail(output)))?;
    let field = |name: &str| {
        report[name]
            .as_u64()
            .ok_or_else(|| format!("the JSON report has no {name}"))
    };
    Ok(Counts {
        blobs_marked: field("blobs_marked")?,
        blobs_removed: field("blobs_removed")?,
        manifests_removed: field("manifests_removed")?,
    })
}

/// The reference's closing line: `N blobs marked, M blobs and K manifests eligible for
/// deletion` (it deletes them when not in dry-run mode).
fn reference_counts(output: &str) -> Result<Counts> {
    let line = output
        .lines()
        .find(|l| l.contains("blobs marked,"))
        .ok_or_else(|| format!("the reference printed no summary: {}", tail(output)))?;
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches(',').parse().ok())
        .collect();
    match numbers[..] {
        [marked, blobs, manifests] => Ok(Counts {
            blobs_marked: marked,
            blobs_removed: blobs,
            manifests_removed: manifests,
        }),
        _ => Err(format!("unexpected summary: {line}")),
    }
}

/// The collector under `strace -f -c`, counting [`FILE_SYSCALLS`] by name.
fn count_syscalls(
    kind: Kind,
    mode: Mode,
    binary: &Path,
    config: &Path,
    dir: &Path,
) -> Result<BTreeMap<String, u64>> {
    let summary = dir.join(format!("{}.strace", kind.name()));
    let summary_arg = summary.to_string_lossy().into_owned();
    let mut command = collector(
        kind,
        mode,
        binary,
        config,
        &[
            "strace",
            "-f",
            "-c",
            "-e",
            FILE_SYSCALLS,
            "-o",
            &summary_arg,
        ],
    );
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{command:?}: {e}"))?;
    if !status.success() {
        return Err(format!("{} under strace failed: {status}", kind.name()));
    }
    let text = std::fs::read_to_string(&summary).map_err(|e| e.to_string())?;
    parse_strace_summary(&text)
}

/// `strace -c`'s table: `% time seconds usecs/call calls [errors] syscall`.
fn parse_strace_summary(text: &str) -> Result<BTreeMap<String, u64>> {
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(count)) = (fields.last(), fields.get(3)) else {
            continue;
        };
        if *name == "total" || fields[0].parse::<f64>().is_err() {
            continue;
        }
        if let Ok(count) = count.parse::<u64>() {
            calls.insert((*name).to_owned(), count);
        }
    }
    if calls.is_empty() {
        return Err(format!("no strace summary in: {}", tail(text)));
    }
    Ok(calls)
}

/// Requests s3s-fs resolved, by operation, from its log.
fn count_s3_operations(log: &Path) -> Result<BTreeMap<String, u64>> {
    use std::io::BufRead as _;
    let file = std::fs::File::open(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut operations = BTreeMap::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some((_, rest)) = line.split_once("resolved route, op: ") {
            let op = rest.split(',').next().unwrap_or(rest).trim().to_owned();
            *operations.entry(op).or_insert(0) += 1;
        }
    }
    if operations.is_empty() {
        return Err(format!("{}: no requests logged", log.display()));
    }
    Ok(operations)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The largest operation counts, e.g. `GetObject 20,000, ListObjectsV2 4,100`.
fn top_operations(operations: &BTreeMap<String, u64>, n: usize) -> String {
    let mut sorted: Vec<_> = operations.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    sorted
        .iter()
        .take(n)
        .map(|(name, count)| format!("{name} {}", thousands(**count)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn markdown(rows: &[Row], fs: &Root, s3: &Root, options: &Options) -> String {
    let size = |root: &Root| {
        format!(
            "{} repositories, {} OCI image manifests, {} blobs ({} files in the CNCF \
             Distribution layout)",
            thousands(root.scale.repositories as u64),
            thousands(root.scale.manifests() as u64),
            thousands(root.scale.blobs() as u64),
            thousands(root.files as u64),
        )
    };
    let mut out = format!(
        "# Offline garbage collection\n\n\
         `registry garbage-collect` (this registry, release build) and the reference's \
         `docker-registry garbage-collect` (CNCF Distribution 2.8, Debian) on the same generated \
         storage root. Filesystem: {}{}. S3 (s3s-fs): {}, a five-hundredth of the full scale \
         (see the method). `cargo xtask bench --only gc`.\n\n",
        size(fs),
        if options.quick {
            " (`--quick`: a tenth of the full scale)"
        } else {
            ""
        },
        size(s3),
    );
    out.push_str(
        "| storage | mode | registry | time (s) | peak RSS (MiB) | storage operations | largest | blobs marked | blobs removed | manifests removed | blobs left as expected |\n\
         |---|---|---|---:|---:|---:|---|---:|---:|---:|---|\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {:.0} | {} | {} | {} | {} | {} | {} |",
            row.storage.label(),
            row.mode.label(),
            row.kind.name(),
            row.seconds,
            row.peak_kib as f64 / 1024.0,
            thousands(row.operations_total()),
            top_operations(&row.operations, 3),
            thousands(row.blobs_marked),
            thousands(row.blobs_removed),
            thousands(row.manifests_removed),
            if row.left_as_expected {
                format!("yes ({})", thousands(row.blobs_left as u64))
            } else {
                format!("**no** ({})", thousands(row.blobs_left as u64))
            },
        );
    }
    out.push_str(
        "\n| storage | mode | time ours / reference | peak RSS ours / reference | storage operations ours / reference | same blobs left |\n\
         |---|---|---:|---:|---:|---|\n",
    );
    for pair in rows.chunks(2) {
        if let [ours, reference] = pair {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {:.2} | {} |",
                ours.storage.label(),
                ours.mode.label(),
                ours.seconds / reference.seconds,
                ours.peak_kib as f64 / reference.peak_kib as f64,
                ours.operations_total() as f64 / reference.operations_total() as f64,
                if ours.left_as_expected && reference.left_as_expected {
                    "yes"
                } else {
                    "**no**"
                },
            );
        }
    }
    let _ = write!(
        out,
        "\n## Method\n\n\
         The root is written directly in the CNCF Distribution layout (not pushed through a \
         registry) by `xtask/src/bench/gc_root.rs`: every repository holds 10 valid OCI image \
         manifests (a config and two layers of their own, one layer from a pool of {} shared by all \
         repositories); manifests 0-4 are tagged, 5-7 were tagged before their tags moved (they \
         stay in the tags' index), 8-9 were pushed by digest; {} blobs no manifest references \
         (half of them with a `_layers` link in a repository). Content is deterministic, about \
         300 bytes a blob. The generator knows which blobs each mode must keep: in plain mark and \
         sweep, every blob a manifest revision reaches; with `--delete-untagged`, only what the \
         tagged manifests reach (the reference's documented meaning; these roots hold no image \
         indexes or referrers, where the two registries differ on purpose). \"Blobs left as \
         expected\" compares the `data` files left after the run with that set, so \"yes\" on both \
         rows means both collectors removed exactly the same blobs.\n\n\
         Each run works on a fresh `cp -a` of the root: on the filesystem under /dev/shm (tmpfs, \
         so the disk does not decide), on S3 copied into the bucket directory of a fresh s3s-fs \
         (it stores an object as the file `<bucket>/<key>`, and needs no metadata files). Time is \
         the collector process's wall time; peak RSS its maximum resident set (`/usr/bin/time \
         -f %M`). One run per row. Our collector runs its online protocol offline too: it dooms \
         candidates, waits its reliance window `W` and marks again before the sweep; the bench \
         sets `gc.reliancewindow: {RELIANCE_WINDOW}`, and with the default (30 s) every time of \
         ours is 29 s longer. The reference does not wait (and is not safe while pushes run).\n\n\
         Why S3 runs at a five-hundredth: s3s-fs answers every ListObjectsV2 by scanning its bucket \
         directory (the whole bucket without a delimiter, everything below the prefix with one), \
         so a listing costs time in proportion to the bucket, not to the answer; both collectors \
         list for every delete (the reference's S3 `Delete` lists the prefix, then sends \
         DeleteObjects), so at 100,000 blobs a run takes hours on the emulator whichever registry \
         runs (at a hundredth, 2,355 files, a trial took 550 s for ours, before the fix below, \
         and 81 s for the reference). The operation counts per blob and manifest are what the S3 rows are for; \
         real S3 lists in time proportional to the page, not to the bucket.\n\n\
         Where ours does more: it marks twice (before dooming and after waiting `W`, which the \
         online protocol needs and the offline command shares), and every candidate costs a \
         doom marker written, three stats (data, again just before the delete, the revival \
         record) and three deletes (the blob, its doom marker, its revival record), where the \
         reference deletes once; on S3 each delete of ours is a HEAD, a listing of the prefix, a \
         DeleteObjects and a listing of the writers' pending records, and a removed manifest also \
         lists the repository's tags to delete their index entries. The mark once walked every \
         repository's `_layers` links too, a directory read (a listing on S3) per link that can \
         mark nothing when the grace window is zero; it no longer does then.\n\n\
         Storage operations are counted the same way for both registries: on S3, the requests \
         s3s-fs received, read from its `s3s::ops` debug log (one `resolved route, op: ...` line \
         per request; logging costs both registries' runs alike); on the filesystem, the system \
         calls `{FILE_SYSCALLS}` of the collector process and its threads in a second, untimed run \
         under `strace -f -c` on another fresh copy (`%file` is every call that names a path: \
         open, stat, unlink, mkdir, rename...; `write` is left out because the reference prints \
         a line per manifest and blob, and file contents both registries write go through an \
         `openat` counted here).\n",
        thousands(fs.scale.shared_layers as u64),
        thousands(fs.scale.unreferenced as u64)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_strace_summary() {
        let text = "% time     seconds  usecs/call     calls    errors syscall\n\
                    ------ ----------- ----------- --------- --------- ----------------\n\
                    \x20 60.00    0.000600           1       700           read\n\
                    \x20 40.00    0.000400           1        34        13 openat\n\
                    ------ ----------- ----------- --------- --------- ----------------\n\
                    100.00    0.001000           1       734        13 total\n";
        let calls = parse_strace_summary(text).unwrap();
        assert_eq!(calls.get("read"), Some(&700));
        assert_eq!(calls.get("openat"), Some(&34));
        assert_eq!(calls.len(), 2);
        assert!(parse_strace_summary("nothing").is_err());
    }

    #[test]
    fn reads_the_reference_summary() {
        let output = "b/r0000: marking manifest sha256:ab\n\n\
                      81000 blobs marked, 19000 blobs and 0 manifests eligible for deletion\n\
                      blob eligible for deletion: sha256:cd\n";
        let counts = reference_counts(output).unwrap();
        assert_eq!(
            (
                counts.blobs_marked,
                counts.blobs_removed,
                counts.manifests_removed
            ),
            (81000, 19000, 0)
        );
        assert!(reference_counts("no summary").is_err());
    }

    #[test]
    fn formats_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
