//! Tags list (end-8a/8b) and the catalog: lexical order, `n`/`last` pagination, `Link`.

mod common;

use common::*;
use registry_core::domain::Digest;
use reqwest::StatusCode;
use serde_json::{Value, json};

driver_tests!(
    tags_are_sorted_lexically,
    tags_paginate_with_n_and_last,
    following_link_headers_walks_all_tags,
    tags_of_an_unknown_repository_are_404,
    tags_of_an_untagged_repository_are_404,
    invalid_page_sizes_are_400,
    catalog_lists_repositories_sorted,
    catalog_paginates_with_link_headers,
    empty_catalog,
    catalog_pages_are_capped_by_maxentries,
    catalog_order_is_the_references,
);

const TAGS: [&str; 7] = ["v10", "latest", "V2", "1.0", "v1", "_internal", "a-b.c_d"];

/// A repository with every tag of [`TAGS`] on one image.
async fn tagged_repository(s: &TestServer, repo: &str) {
    let manifest = s.image(repo, 1, 1).await;
    for tag in TAGS {
        s.push_manifest(repo, tag, &manifest).await;
    }
}

fn sorted_tags() -> Vec<&'static str> {
    let mut tags = TAGS.to_vec();
    tags.sort();
    tags
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The target of `Link: <url>; rel="next"`.
fn next_link(response: &reqwest::Response) -> Option<String> {
    let link = header(response, "Link")?;
    assert!(link.ends_with("rel=\"next\""), "{link}");
    let url = link.strip_prefix('<')?.split('>').next()?;
    Some(url.to_owned())
}

async fn tags_are_sorted_lexically(driver: Driver) {
    let s = TestServer::start(driver).await;
    tagged_repository(&s, "tags/sorted").await;
    let response = s.get("/v2/tags/sorted/tags/list").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "Link").is_none());
    assert!(
        header(&response, "Content-Type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = json(response).await;
    assert_eq!(body["name"], "tags/sorted");
    assert_eq!(strings(&body["tags"]), sorted_tags());
    s.stop().await;
}

async fn tags_paginate_with_n_and_last(driver: Driver) {
    let s = TestServer::start(driver).await;
    tagged_repository(&s, "paged").await;
    let all = sorted_tags();

    let response = s.get("/v2/paged/tags/list?n=3").await;
    assert_eq!(response.status(), StatusCode::OK);
    let link = next_link(&response).expect("a Link to the next page");
    assert!(link.contains("n=3"), "{link}");
    assert!(link.contains(&format!("last={}", all[2])), "{link}");
    assert!(link.starts_with("/v2/paged/tags/list?") || link.contains("/v2/paged/tags/list?"));
    assert_eq!(strings(&json(response).await["tags"]), all[..3]);

    let response = s
        .get(&format!("/v2/paged/tags/list?n=3&last={}", all[2]))
        .await;
    assert_eq!(strings(&json(response).await["tags"]), all[3..6]);

    // `last` need not be a tag: the page starts after it.
    let response = s.get("/v2/paged/tags/list?last=latf").await;
    let expected: Vec<&str> = all.iter().copied().filter(|t| *t > "latf").collect();
    assert_eq!(strings(&json(response).await["tags"]), expected);

    // The last page has no Link.
    let response = s
        .get(&format!("/v2/paged/tags/list?n=3&last={}", all[3]))
        .await;
    assert!(header(&response, "Link").is_none());
    assert_eq!(strings(&json(response).await["tags"]), all[4..]);

    // Exactly the remaining count: no Link either.
    let response = s.get(&format!("/v2/paged/tags/list?n={}", all.len())).await;
    assert!(header(&response, "Link").is_none());
    assert_eq!(strings(&json(response).await["tags"]).len(), all.len());

    let response = s.get("/v2/paged/tags/list?n=100&last=zzz").await;
    assert_eq!(json(response).await["tags"], json!([]));
    s.stop().await;
}

async fn following_link_headers_walks_all_tags(driver: Driver) {
    let s = TestServer::start(driver).await;
    tagged_repository(&s, "walk").await;
    let mut seen = Vec::new();
    let mut next = Some("/v2/walk/tags/list?n=2".to_owned());
    let mut pages = 0;
    while let Some(url) = next {
        let response = s.get(&url).await;
        assert_eq!(response.status(), StatusCode::OK);
        next = next_link(&response);
        seen.extend(strings(&json(response).await["tags"]));
        pages += 1;
        assert!(pages <= TAGS.len(), "the Link chain does not end");
    }
    assert_eq!(seen, sorted_tags());
    assert_eq!(pages, TAGS.len().div_ceil(2));
    s.stop().await;
}

async fn tags_of_an_unknown_repository_are_404(driver: Driver) {
    let s = TestServer::start(driver).await;
    tagged_repository(&s, "exists").await;
    for path in [
        "/v2/missing/tags/list",
        "/v2/exists/not/tags/list",
        "/v2/exist/tags/list",
    ] {
        assert_error(s.get(path).await, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
    }
    s.stop().await;
}

/// The reference answers 404 `NAME_UNKNOWN` for a repository that holds blobs, or manifests
/// pushed by digest, but no tag; so does this registry, also once the last tag is deleted.
async fn tags_of_an_untagged_repository_are_404(driver: Driver) {
    let s = TestServer::start(driver).await;
    s.push_blob("blobs/only", b"a blob and nothing else").await;
    let manifest = s.image("by/digest", 3, 1).await;
    s.push_manifest("by/digest", manifest.digest().as_str(), &manifest)
        .await;
    let tagged = s.image("untagged/later", 4, 1).await;
    s.push_manifest("untagged/later", "v1", &tagged).await;
    assert_eq!(
        s.get("/v2/untagged/later/tags/list").await.status(),
        StatusCode::OK
    );
    let response = s.delete("/v2/untagged/later/manifests/v1").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    for repo in ["blobs/only", "by/digest", "untagged/later"] {
        for query in ["", "?n=1"] {
            let response = s.get(&format!("/v2/{repo}/tags/list{query}")).await;
            assert_error(response, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
        }
    }
    // The repositories still exist for everything else.
    let catalog = json(s.get("/v2/_catalog").await).await;
    assert_eq!(
        strings(&catalog["repositories"]),
        ["blobs/only", "by/digest", "untagged/later"]
    );
    s.stop().await;
}

async fn invalid_page_sizes_are_400(driver: Driver) {
    let s = TestServer::start(driver).await;
    tagged_repository(&s, "badn").await;
    for n in ["abc", "-1", "1.5", "99999999999999999999999"] {
        for path in [
            format!("/v2/badn/tags/list?n={n}"),
            format!("/v2/_catalog?n={n}"),
        ] {
            assert_error(
                s.get(&path).await,
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
            )
            .await;
        }
    }
    s.stop().await;
}

const REPOSITORIES: [&str; 6] = [
    "zeta",
    "alpha/one",
    "alpha",
    "alpha/two/deep",
    "beta-1",
    "a.b",
];

async fn catalog_lists_repositories_sorted(driver: Driver) {
    let s = TestServer::start(driver).await;
    for (i, repo) in REPOSITORIES.iter().enumerate() {
        let manifest = s.image(repo, 10 + i as u64, 1).await;
        s.push_manifest(repo, "latest", &manifest).await;
    }
    let mut expected = REPOSITORIES.to_vec();
    // A repository with blobs but no manifest is one too (the reference lists every
    // repository holding `_layers`).
    s.push_blob("blobs-only", b"data").await;
    expected.push("blobs-only");
    // So is one whose blob links were all deleted but whose manifests remain.
    let config = Digest::sha256_of(&config_blob(10));
    let response = s
        .delete(&format!("/v2/{}/blobs/{config}", REPOSITORIES[0]))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    for layer in layers_of(&s, REPOSITORIES[0]).await {
        let response = s
            .delete(&format!("/v2/{}/blobs/{layer}", REPOSITORIES[0]))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    // An upload in progress does not make a repository (as in the reference).
    s.start_upload("uploading-only").await;
    let response = s.get("/v2/_catalog").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "Link").is_none());
    expected.sort();
    assert_eq!(strings(&json(response).await["repositories"]), expected);
    s.stop().await;
}

async fn catalog_paginates_with_link_headers(driver: Driver) {
    let s = TestServer::start(driver).await;
    for (i, repo) in REPOSITORIES.iter().enumerate() {
        let manifest = s.image(repo, 20 + i as u64, 1).await;
        s.push_manifest(repo, "latest", &manifest).await;
    }
    let mut expected = REPOSITORIES.to_vec();
    expected.sort();

    let response = s.get("/v2/_catalog?n=4").await;
    let link = next_link(&response).expect("a Link to the next page");
    assert!(link.contains("/v2/_catalog?"), "{link}");
    assert_eq!(
        strings(&json(response).await["repositories"]),
        expected[..4]
    );
    let response = s.get(&link).await;
    assert!(header(&response, "Link").is_none());
    assert_eq!(
        strings(&json(response).await["repositories"]),
        expected[4..]
    );

    // `last` with a slash, percent-encoded or not.
    for last in ["alpha/one", "alpha%2Fone"] {
        let response = s.get(&format!("/v2/_catalog?n=2&last={last}")).await;
        assert_eq!(
            strings(&json(response).await["repositories"]),
            ["alpha/two/deep", "beta-1"]
        );
    }
    s.stop().await;
}

async fn empty_catalog(driver: Driver) {
    let s = TestServer::start(driver).await;
    let response = s.get("/v2/_catalog").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(response).await, json!({"repositories": []}));
    let response = s.get("/v2/_catalog?n=10").await;
    assert_eq!(json(response).await, json!({"repositories": []}));
    s.stop().await;
}

async fn catalog_pages_are_capped_by_maxentries(driver: Driver) {
    let options = Options {
        catalog_max_entries: Some(2),
        ..Options::default()
    };
    let s = TestServer::start_with(driver, options).await;
    for (i, repo) in REPOSITORIES.iter().enumerate() {
        let manifest = s.image(repo, 30 + i as u64, 1).await;
        s.push_manifest(repo, "latest", &manifest).await;
    }
    let mut expected = REPOSITORIES.to_vec();
    expected.sort();
    // Without `n`, and with an `n` above the cap: pages of two, chained by Link.
    for first in ["/v2/_catalog", "/v2/_catalog?n=5"] {
        let mut seen = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(url) = next {
            let response = s.get(&url).await;
            assert_eq!(response.status(), StatusCode::OK);
            next = next_link(&response);
            let page = strings(&json(response).await["repositories"]);
            assert!(page.len() <= 2, "{url}: {page:?}");
            seen.extend(page);
            assert!(seen.len() <= expected.len(), "the Link chain does not end");
        }
        assert_eq!(seen, expected, "{first}");
    }
    s.stop().await;
}

/// The layer digests of `repo`'s `latest` manifest.
async fn layers_of(s: &TestServer, repo: &str) -> Vec<String> {
    let manifest = json(s.get(&format!("/v2/{repo}/manifests/latest")).await).await;
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// These names in the order CNCF Distribution 2.8.2 lists them (observed on a filesystem root
/// it wrote): the order of `<name>/_layers`, component by component, so `a/0` precedes `a`.
const REFERENCE_ORDER: [&str; 13] = [
    "a/0", "a", "a/b/0c", "a/b", "a/b/c", "a/b-c", "a-b", "a.b", "a0", "a_b", "ab", "b", "b/a",
];

async fn catalog_order_is_the_references(driver: Driver) {
    let s = TestServer::start(driver).await;
    // Pushed in another order, one blob each (a blob link makes a repository).
    for repo in REFERENCE_ORDER.iter().rev() {
        s.push_blob(repo, repo.as_bytes()).await;
    }
    let response = s.get("/v2/_catalog").await;
    assert_eq!(
        strings(&json(response).await["repositories"]),
        REFERENCE_ORDER
    );

    // `last` is read in the same order, so a chain of pages lists each repository once.
    for n in [1, 2, 5] {
        let mut seen = Vec::new();
        let mut next = Some(format!("/v2/_catalog?n={n}"));
        while let Some(url) = next {
            let response = s.get(&url).await;
            next = next_link(&response);
            let page = strings(&json(response).await["repositories"]);
            assert!(page.len() <= n, "{url}: {page:?}");
            seen.extend(page);
            assert!(seen.len() <= REFERENCE_ORDER.len(), "n={n}: {seen:?}");
        }
        assert_eq!(seen, REFERENCE_ORDER, "n={n}");
    }
    // The pages after a repository whose child sorts before it. (The reference answers
    // `["a/b/0c","a/b"]` and `["a/0","a/b/0c"]` here: it compares `last` by name.)
    for (last, page) in [
        ("a/0", ["a", "a/b/0c"]),
        ("a", ["a/b/0c", "a/b"]),
        ("a/b", ["a/b/c", "a/b-c"]),
        ("a%2Fb-c", ["a-b", "a.b"]),
        // A name that is no repository still has its place in the order.
        ("a/b/a", ["a/b/c", "a/b-c"]),
    ] {
        let response = s.get(&format!("/v2/_catalog?n=2&last={last}")).await;
        assert_eq!(
            strings(&json(response).await["repositories"]),
            page,
            "last={last}"
        );
    }
    s.stop().await;
}
