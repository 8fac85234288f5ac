//! The garbage-collection contract: the same cases on every driver, run by each driver crate
//! with [`gc_contract_tests!`](crate::gc_contract_tests), like the storage contract suite.

pub mod cases;
pub mod fixture;
pub mod prefixed;

/// Expands to one `#[tokio::test]` per GC case, with the storage contract's harness.
#[macro_export]
macro_rules! gc_contract_tests {
    ($open:path) => {
        $crate::gc_contract_tests!(@cases $open;
            gc_removes_unreferenced_blobs_and_keeps_images, gc_dry_run_changes_nothing,
            gc_overwritten_tags_and_untagged_manifests, gc_shared_layers_across_repositories,
            gc_oci_index_children_stay, gc_docker_manifest_list_children_stay,
            gc_referrers_follow_their_subject, gc_push_during_the_cycle_revives_a_doomed_blob,
            gc_retention_policies, gc_one_cycle_at_a_time, gc_revival_record_keeps_a_candidate
        );
    };
    (@cases $open:path; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(harness) = $open().await {
                    $crate::storage::contract::run(
                        harness,
                        $crate::lifecycle::gc::contract::cases::$case,
                    )
                    .await;
                }
            }
        )+
    };
}
