//! Properties of endpoint recognition: any path is answered (a route or a refusal, never a
//! panic), every endpoint shape built from a valid name is recognised with that name, and a
//! recognised name is always a valid repository name.

use proptest::prelude::*;
use registry_core::domain::RepositoryName;

use super::{Route, RouteError, recognise};
use crate::http::percent;

fn valid_name() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-z0-9]{1,4}([._-][a-z0-9]{1,3})?", 1..4)
        .prop_map(|parts| parts.join("/"))
}

/// Paths assembled from the API's segments and path tricks.
fn near_valid_path() -> impl Strategy<Value = String> {
    let segment = proptest::sample::select(vec![
        "v2",
        "",
        "a",
        "b-c",
        "manifests",
        "blobs",
        "uploads",
        "tags",
        "list",
        "_catalog",
        "referrers",
        "latest",
        "sha256:abc",
        "..",
        ".",
        "%2e%2e",
        "%2F",
        "%",
        "%zz",
        "%00",
        "A",
        "_layers",
        "é",
    ]);
    proptest::collection::vec(segment, 0..8).prop_map(|s| format!("/{}", s.join("/")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_path_is_answered(path in any::<String>()) {
        let _ = recognise(&path);
    }

    #[test]
    fn near_valid_paths_name_only_valid_repositories(path in near_valid_path()) {
        let name = match recognise(&path) {
            Ok(Route::Tags(n) | Route::Manifest(n, _) | Route::Blob(n, _) | Route::UploadStart(n)
                | Route::Upload(n, _) | Route::Referrers(n, _)) => n,
            Ok(Route::Base | Route::Catalog) | Err(RouteError::NoEndpoint | RouteError::Name(_)) => return Ok(()),
        };
        prop_assert_eq!(name.as_str().parse::<RepositoryName>().ok(), Some(name.clone()));
        prop_assert!(!name.as_str().split('/').any(|c| c == ".." || c == "."));
    }

    #[test]
    fn every_endpoint_shape_is_recognised(name in valid_name(), last in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,10}") {
        let n: RepositoryName = name.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let cases = [
            (format!("/v2/{name}/tags/list"), Route::Tags(n.clone())),
            (format!("/v2/{name}/manifests/{last}"), Route::Manifest(n.clone(), last.clone())),
            (format!("/v2/{name}/blobs/{last}"), Route::Blob(n.clone(), last.clone())),
            (format!("/v2/{name}/blobs/uploads/"), Route::UploadStart(n.clone())),
            (format!("/v2/{name}/blobs/uploads/{last}"), Route::Upload(n.clone(), last.clone())),
            (format!("/v2/{name}/referrers/{last}"), Route::Referrers(n.clone(), last.clone())),
            // Percent-encoded spellings mean the same.
            (
                format!("/v2/{}/manifests/{}", name.replace('/', "%2F"), percent::encode_query_value(&last)),
                Route::Manifest(n.clone(), last.clone()),
            ),
        ];
        for (path, route) in cases {
            prop_assert_eq!(recognise(&path), Ok(route), "{}", path);
        }
    }
}
