//! The driver contract suite: the behaviour every [`StorageDriver`](super::StorageDriver) must
//! have, written once and run by each driver crate with [`storage_contract_tests!`].
//!
//! It covers what CNCF Distribution's driver suite checks, plus walks, resuming a writer from a
//! fresh driver instance, cancel and writer isolation. Every case works below its own random
//! prefix, which is deleted afterwards and checked to be gone, so runs against cloud storage do
//! not leak objects.

pub mod cases;
mod support;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use super::Storage;

pub use support::{Ctx, emulator_env, memory_report};

/// How the suite opens a driver under test.
pub struct Harness {
    /// Opens a new driver instance over the same backing store, as another process would.
    pub open: Box<dyn Fn() -> Storage + Send + Sync>,
    /// True for drivers that keep object bytes in process memory; the suite then does not hold
    /// them to flat memory during the large-stream case.
    pub holds_data_in_memory: bool,
    /// True for drivers that hand out presigned URLs: `redirect_url` must then give one, and
    /// otherwise must give none.
    pub presigns: bool,
    /// True for drivers whose writers keep state outside the visible objects that they can
    /// enumerate: `pending_writes` must then report a crashed writer.
    pub reports_pending_writes: bool,
}

impl Harness {
    pub fn new(open: impl Fn() -> Storage + Send + Sync + 'static) -> Self {
        Harness {
            open: Box::new(open),
            holds_data_in_memory: false,
            presigns: false,
            reports_pending_writes: false,
        }
    }

    pub fn presigning(mut self) -> Self {
        self.presigns = true;
        self
    }

    pub fn reporting_pending_writes(mut self) -> Self {
        self.reports_pending_writes = true;
        self
    }

    pub fn holding_data_in_memory(mut self) -> Self {
        self.holds_data_in_memory = true;
        self
    }
}

/// Runs one case below a fresh prefix, then removes the prefix and checks that nothing is left,
/// also when the case failed.
pub async fn run<F, Fut>(harness: Harness, case: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    let ctx = Ctx::new(Arc::new(harness));
    let outcome = AssertUnwindSafe(case(ctx.clone())).catch_unwind().await;
    if let Err(panic) = outcome {
        // The case's own failure is the one to report; a cleanup that fails after it (often
        // for the same reason) is only mentioned.
        if AssertUnwindSafe(ctx.remove_prefix())
            .catch_unwind()
            .await
            .is_err()
        {
            eprintln!("(cleanup after the failed case failed too; see above)");
        }
        std::panic::resume_unwind(panic);
    }
    ctx.remove_prefix().await;
    ctx.assert_prefix_gone().await;
}

/// Expands to one `#[tokio::test]` per contract case. `$open` is an `async fn() ->
/// Option<Harness>`; `None` means the backend is unavailable and the caller has printed why.
#[macro_export]
macro_rules! storage_contract_tests {
    ($open:path) => {
        $crate::storage_contract_tests!(@cases $open;
            valid_paths, invalid_paths_name_the_driver, root_is_only_for_listing,
            put_get_single_char, put_get_utf8, put_get_random_32_bytes, put_get_1_mib,
            put_get_non_utf8, put_truncates_previous_content, put_4096_then_2048,
            get_missing,
            stream_single_char, stream_utf8, stream_random_32_bytes, stream_1_mib,
            stream_non_utf8, large_stream_hash_and_flat_memory,
            reader_offsets, reader_negative_offset, reader_at_size_is_empty,
            reader_at_size_minus_one, reader_beyond_size, reader_missing_at_0,
            reader_missing_at_64,
            range_reader_reads_exactly_the_range, range_reader_of_nothing_is_empty,
            range_reader_past_the_end, range_reader_missing,
            append_large_chunks, append_small_chunks, zero_byte_stream_then_append,
            zero_byte_content_then_append, append_to_missing_path,
            writer_invisible_before_commit, closed_writer_not_listed,
            commit_isolates_concurrent_writers,
            resume_from_fresh_instance, cancel_leaves_nothing, cancel_of_resumed_writer,
            flush_between_writes, flush_then_cancel_or_resume,
            list_missing_directory, list_fifty_children, list_direct_children_only,
            list_root,
            move_file, move_overwrites, move_onto_itself, move_missing_source_keeps_destination,
            move_under_a_file,
            delete_file, delete_missing, delete_spares_siblings, delete_folder,
            delete_spares_shared_name_prefix,
            stat_missing, stat_file, stat_mod_time_advances, stat_directory,
            get_content_timed,
            concurrent_readers, concurrent_writers,
            redirect_url, pending_write_of_a_crashed_writer,
            walk_order, walk_skip_dir, walk_start_after, walk_stop, walk_missing,
            walk_callback_error, walk_tolerates_removal
        );
    };
    (@cases $open:path; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(harness) = $open().await {
                    $crate::storage::contract::run(
                        harness,
                        $crate::storage::contract::cases::$case,
                    )
                    .await;
                }
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    /// The names between `@cases $open;` and the closing `);` of the macro above.
    fn listed_cases() -> Vec<String> {
        let source = include_str!("mod.rs");
        let start =
            source.find("@cases $open;").expect("the macro's case list") + "@cases $open;".len();
        let end = start + source[start..].find(");").expect("end of the case list");
        source[start..end]
            .split(',')
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .collect()
    }

    /// Every `pub async fn` of `cases.rs` is in `storage_contract_tests!`: a case written but
    /// not listed would never run.
    #[test]
    fn every_case_is_listed() {
        let defined: Vec<String> = include_str!("cases.rs")
            .lines()
            .filter_map(|line| line.trim_start().strip_prefix("pub async fn "))
            .filter_map(|rest| rest.split('(').next())
            .map(str::to_owned)
            .collect();
        let listed = listed_cases();
        assert!(defined.len() > 50, "cases.rs parsed: {defined:?}");
        let missing: Vec<&String> = defined.iter().filter(|d| !listed.contains(d)).collect();
        assert!(
            missing.is_empty(),
            "cases not in storage_contract_tests!: {missing:?}"
        );
        let unknown: Vec<&String> = listed.iter().filter(|l| !defined.contains(l)).collect();
        assert!(unknown.is_empty(), "listed but not defined: {unknown:?}");
    }
}
