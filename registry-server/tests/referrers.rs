//! The OCI 1.1 referrers API: end-12a/12b, and `OCI-Subject` on manifest PUT.

mod common;

use std::collections::BTreeSet;

use common::*;
use futures::StreamExt;
use registry_core::domain::{Digest, RepositoryName};
use registry_core::layout;
use registry_core::registry::{REFERRERS_PAGE_BYTES, REFERRERS_PAGE_ENTRIES};
use reqwest::StatusCode;
use serde_json::{Value, json};

driver_tests!(
    a_manifest_with_a_subject_answers_oci_subject,
    referrers_list_the_manifests_of_a_subject,
    artifact_type_filter,
    no_referrers_is_an_empty_index,
    malformed_subject_digests_are_400,
    a_deleted_referrer_leaves_the_list,
    artifact_type_defaults_to_the_config_media_type,
    an_index_can_refer_to_a_subject,
    many_referrers_come_in_pages,
    large_annotations_are_paged_by_bytes,
    referrers_outlive_their_deleted_subject,
    docker_typed_referrers_are_listed,
    descriptors_with_data,
);

/// An artifact manifest (OCI 1.1 style: empty config, one layer) referring to `subject`.
async fn artifact(
    s: &TestServer,
    repo: &str,
    subject: &Manifest,
    artifact_type: Option<&str>,
    annotations: Value,
    seed: u64,
) -> Manifest {
    let empty = s.push_blob(repo, b"{}").await;
    let layer = bytes(seed, 64);
    let layer_digest = s.push_blob(repo, &layer).await;
    let mut value = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_EMPTY, "digest": empty.as_str(), "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": layer_digest.as_str(), "size": 64}],
        "subject": subject.descriptor(),
        "annotations": annotations,
    });
    if let Some(artifact_type) = artifact_type {
        value["artifactType"] = json!(artifact_type);
    }
    Manifest {
        media_type: OCI_MANIFEST.to_owned(),
        body: serde_json::to_vec(&value).unwrap(),
    }
}

async fn referrers(s: &TestServer, repo: &str, subject: &Digest, query: &str) -> reqwest::Response {
    let response = s
        .get(&format!("/v2/{repo}/referrers/{subject}{query}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "Content-Type").as_deref(),
        Some(OCI_INDEX)
    );
    response
}

/// The index's manifests, checked to be an OCI image index.
async fn listed(response: reqwest::Response) -> Vec<Value> {
    let index = json(response).await;
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_INDEX);
    index["manifests"]
        .as_array()
        .expect("a manifests array")
        .clone()
}

async fn a_manifest_with_a_subject_answers_oci_subject(driver: Driver) {
    let s = TestServer::start(driver).await;
    let image = s.image("subjects", 1, 1).await;
    s.push_manifest("subjects", "v1", &image).await;
    let signature = artifact(
        &s,
        "subjects",
        &image,
        Some("application/vnd.example.sig"),
        json!({}),
        2,
    )
    .await;
    let response = s
        .put_manifest(
            "subjects",
            signature.digest().as_str(),
            OCI_MANIFEST,
            &signature.body,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        header(&response, "OCI-Subject").as_deref(),
        Some(image.digest().as_str())
    );
    // The subject need not exist (yet).
    let ghost = s.image("subjects", 3, 1).await;
    let early = artifact(
        &s,
        "subjects",
        &ghost,
        Some("application/vnd.example.sbom"),
        json!({}),
        4,
    )
    .await;
    let response = s
        .put_manifest(
            "subjects",
            early.digest().as_str(),
            OCI_MANIFEST,
            &early.body,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        header(&response, "OCI-Subject").as_deref(),
        Some(ghost.digest().as_str())
    );
    let list = listed(referrers(&s, "subjects", &ghost.digest(), "").await).await;
    assert_eq!(list.len(), 1);
    s.stop().await;
}

async fn referrers_list_the_manifests_of_a_subject(driver: Driver) {
    let s = TestServer::start(driver).await;
    let image = s.image("listing", 5, 1).await;
    s.push_manifest("listing", "v1", &image).await;
    let signature = artifact(
        &s,
        "listing",
        &image,
        Some("application/vnd.example.sig"),
        json!({"org.example.signer": "alice"}),
        6,
    )
    .await;
    let sbom = artifact(
        &s,
        "listing",
        &image,
        Some("application/vnd.example.sbom"),
        json!({"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}),
        7,
    )
    .await;
    s.push_manifest("listing", signature.digest().as_str(), &signature)
        .await;
    // A referrer pushed by tag is a referrer too.
    s.push_manifest("listing", "sbom", &sbom).await;

    let list = listed(referrers(&s, "listing", &image.digest(), "").await).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let mut expected = vec![
        json!({
            "mediaType": OCI_MANIFEST,
            "digest": signature.digest().as_str(),
            "size": signature.size(),
            "artifactType": "application/vnd.example.sig",
            "annotations": {"org.example.signer": "alice"},
        }),
        json!({
            "mediaType": OCI_MANIFEST,
            "digest": sbom.digest().as_str(),
            "size": sbom.size(),
            "artifactType": "application/vnd.example.sbom",
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        }),
    ];
    expected.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
    let mut actual = list.clone();
    actual.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
    assert_eq!(actual, expected);
    // Another repository's subject with the same digest has no referrers.
    let list = listed(referrers(&s, "elsewhere", &image.digest(), "").await).await;
    assert!(list.is_empty());
    s.stop().await;
}

async fn artifact_type_filter(driver: Driver) {
    let s = TestServer::start(driver).await;
    let image = s.image("filter", 8, 1).await;
    s.push_manifest("filter", "v1", &image).await;
    for (i, kind) in ["sig", "sbom", "sig"].iter().enumerate() {
        let artifact_type = format!("application/vnd.example.{kind}");
        let a = artifact(
            &s,
            "filter",
            &image,
            Some(&artifact_type),
            json!({"i": i.to_string()}),
            9 + i as u64,
        )
        .await;
        s.push_manifest("filter", a.digest().as_str(), &a).await;
    }
    let response = referrers(
        &s,
        "filter",
        &image.digest(),
        "?artifactType=application/vnd.example.sig",
    )
    .await;
    assert_eq!(
        header(&response, "OCI-Filters-Applied").as_deref(),
        Some("artifactType")
    );
    let list = listed(response).await;
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .all(|d| d["artifactType"] == "application/vnd.example.sig")
    );

    // Percent-encoded, as clients send it.
    let response = referrers(
        &s,
        "filter",
        &image.digest(),
        "?artifactType=application%2Fvnd.example.sbom",
    )
    .await;
    assert_eq!(
        header(&response, "OCI-Filters-Applied").as_deref(),
        Some("artifactType")
    );
    assert_eq!(listed(response).await.len(), 1);

    let response = referrers(&s, "filter", &image.digest(), "?artifactType=text/plain").await;
    assert_eq!(
        header(&response, "OCI-Filters-Applied").as_deref(),
        Some("artifactType")
    );
    assert!(listed(response).await.is_empty());

    // Without the filter: all, and no OCI-Filters-Applied.
    let response = referrers(&s, "filter", &image.digest(), "").await;
    assert!(header(&response, "OCI-Filters-Applied").is_none());
    assert_eq!(listed(response).await.len(), 3);
    s.stop().await;
}

async fn no_referrers_is_an_empty_index(driver: Driver) {
    let s = TestServer::start(driver).await;
    let image = s.image("lonely", 12, 1).await;
    s.push_manifest("lonely", "v1", &image).await;
    let list = listed(referrers(&s, "lonely", &image.digest(), "").await).await;
    assert!(list.is_empty());
    // A digest nothing in the registry has, in a repository that does not exist: still 200.
    let absent = Digest::sha256_of(b"nobody");
    let list = listed(referrers(&s, "no/such/repo", &absent, "").await).await;
    assert!(list.is_empty());
    s.stop().await;
}

async fn malformed_subject_digests_are_400(driver: Driver) {
    let s = TestServer::start(driver).await;
    for digest in [
        "sha256:abc",
        "latest",
        "sha256:",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
    ] {
        let response = s.get(&format!("/v2/repo/referrers/{digest}")).await;
        assert_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    }
    s.stop().await;
}

async fn a_deleted_referrer_leaves_the_list(driver: Driver) {
    let s = TestServer::start(driver).await;
    let image = s.image("forget", 13, 1).await;
    s.push_manifest("forget", "v1", &image).await;
    let a = artifact(
        &s,
        "forget",
        &image,
        Some("application/vnd.example.a"),
        json!({}),
        14,
    )
    .await;
    let b = artifact(
        &s,
        "forget",
        &image,
        Some("application/vnd.example.b"),
        json!({}),
        15,
    )
    .await;
    s.push_manifest("forget", a.digest().as_str(), &a).await;
    s.push_manifest("forget", "b-tag", &b).await;
    let response = s
        .delete(&format!("/v2/forget/manifests/{}", a.digest()))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let list = listed(referrers(&s, "forget", &image.digest(), "").await).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], b.digest().as_str());
    // Deleting only the tag of a referrer keeps it a referrer: the manifest still exists.
    let response = s.delete("/v2/forget/manifests/b-tag").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let list = listed(referrers(&s, "forget", &image.digest(), "").await).await;
    assert_eq!(list.len(), 1);
    s.stop().await;
}

async fn artifact_type_defaults_to_the_config_media_type(driver: Driver) {
    let s = TestServer::start(driver).await;
    let image = s.image("configtype", 16, 1).await;
    s.push_manifest("configtype", "v1", &image).await;
    // An image manifest with a subject but no artifactType: its config's media type stands in.
    let config = config_blob(17);
    let config_digest = s.push_blob("configtype", &config).await;
    let referrer = image_manifest(
        ImageFormat::Oci,
        (&config_digest, config.len() as u64),
        &[],
        Some(json!({"subject": image.descriptor()})),
    );
    s.push_manifest("configtype", referrer.digest().as_str(), &referrer)
        .await;
    let list = listed(referrers(&s, "configtype", &image.digest(), "").await).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["artifactType"], OCI_CONFIG);
    assert!(list[0].get("annotations").is_none(), "{:?}", list[0]);
    // Filtering on it, with the `+` of the media type sent as is and percent-encoded.
    for query in [
        "?artifactType=application/vnd.oci.image.config.v1+json",
        "?artifactType=application%2Fvnd.oci.image.config.v1%2Bjson",
    ] {
        let response = referrers(&s, "configtype", &image.digest(), query).await;
        assert_eq!(listed(response).await.len(), 1, "{query}");
    }
    s.stop().await;
}

async fn an_index_can_refer_to_a_subject(driver: Driver) {
    let s = TestServer::start(driver).await;
    let image = s.image("indexref", 18, 1).await;
    s.push_manifest("indexref", "v1", &image).await;
    let child = s.image("indexref", 19, 1).await;
    s.push_manifest("indexref", child.digest().as_str(), &child)
        .await;
    let index = index_manifest(
        ImageFormat::Oci,
        &[&child],
        Some(
            json!({"subject": image.descriptor(), "artifactType": "application/vnd.example.bundle"}),
        ),
    );
    let response = s
        .put_manifest("indexref", index.digest().as_str(), OCI_INDEX, &index.body)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        header(&response, "OCI-Subject").as_deref(),
        Some(image.digest().as_str())
    );
    let list = listed(referrers(&s, "indexref", &image.digest(), "").await).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["mediaType"], OCI_INDEX);
    assert_eq!(list[0]["artifactType"], "application/vnd.example.bundle");
    s.stop().await;
}

/// Writes referrer entries straight into the referrers index of `subject` (pushing thousands
/// of manifests through the API would take long on the cloud emulators); returns their
/// digests. Entry `i` gets `artifact_type(i)` and an annotation of `annotation_bytes`.
async fn index_entries(
    s: &TestServer,
    repo: &str,
    subject: &Digest,
    count: usize,
    artifact_type: impl Fn(usize) -> &'static str,
    annotation_bytes: usize,
) -> Vec<Digest> {
    let repo: RepositoryName = repo.parse().unwrap();
    let entries: Vec<(Digest, Vec<u8>)> = (0..count)
        .map(|i| {
            let digest = Digest::sha256_of(format!("{repo} referrer {i}").as_bytes());
            let entry = json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest.as_str(),
                "size": 500 + i,
                "artifactType": artifact_type(i),
                "annotations": {"note": "x".repeat(annotation_bytes), "i": i.to_string()},
            });
            (digest, serde_json::to_vec(&entry).unwrap())
        })
        .collect();
    let storage = s.storage().clone();
    futures::stream::iter(entries.iter())
        .map(|(digest, entry)| {
            let path = layout::referrer_entry(&repo, subject, digest);
            let storage = storage.clone();
            async move { storage.put_content(&path, entry.clone()).await }
        })
        .buffer_unordered(16)
        .for_each(|written| async move { written.expect("referrer entry written") })
        .await;
    entries.into_iter().map(|(digest, _)| digest).collect()
}

/// Follows `Link` from `first`; returns each page's digests. Checks every page's shape.
async fn pages(s: &TestServer, first: &str, filtered: bool) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(url) = next {
        let response = s.get(&url).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert_eq!(
            header(&response, "Content-Type").as_deref(),
            Some(OCI_INDEX)
        );
        assert_eq!(
            header(&response, "OCI-Filters-Applied").is_some(),
            filtered,
            "{url}"
        );
        next = header(&response, "Link").map(|link| {
            assert!(link.ends_with("; rel=\"next\""), "{link}");
            let target = link.strip_prefix('<').unwrap().split('>').next().unwrap();
            assert_eq!(target.contains("artifactType="), filtered, "{link}");
            target.to_owned()
        });
        let page: Vec<String> = listed(response)
            .await
            .iter()
            .map(|d| d["digest"].as_str().unwrap().to_owned())
            .collect();
        assert!(!page.is_empty(), "{url}: an empty page");
        pages.push(page);
        assert!(pages.len() < 100, "the Link chain does not end");
    }
    pages
}

/// Pages hold at most the cap, in digest order, and the chain lists every referrer once.
fn assert_chain(pages: &[Vec<String>], expected: &BTreeSet<String>) {
    for page in &pages[..pages.len() - 1] {
        assert_eq!(
            page.len(),
            REFERRERS_PAGE_ENTRIES,
            "pages before the last are full"
        );
    }
    let all: Vec<String> = pages.concat();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "digest order across pages");
    let distinct: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(distinct.len(), all.len(), "no referrer twice");
    assert_eq!(&distinct, expected);
}

async fn many_referrers_come_in_pages(driver: Driver) {
    let s = TestServer::start(driver).await;
    let image = s.image("crowded", 40, 1).await;
    s.push_manifest("crowded", "v1", &image).await;
    let subject = image.digest();
    // Two pushed through the API, the rest written into the index.
    let mut pushed = Vec::new();
    for (i, kind) in ["application/x.many", "application/x.few"]
        .iter()
        .enumerate()
    {
        let a = artifact(&s, "crowded", &image, Some(kind), json!({}), 41 + i as u64).await;
        s.push_manifest("crowded", a.digest().as_str(), &a).await;
        pushed.push((a.digest(), *kind));
    }
    let kind = |i: usize| {
        if i.is_multiple_of(100) {
            "application/x.few"
        } else {
            "application/x.many"
        }
    };
    let count = REFERRERS_PAGE_ENTRIES + 150;
    let written = index_entries(&s, "crowded", &subject, count, kind, 10).await;
    let mut all: BTreeSet<String> = written.iter().map(|d| d.to_string()).collect();
    all.extend(pushed.iter().map(|(d, _)| d.to_string()));

    let url = format!("/v2/crowded/referrers/{subject}");
    let unfiltered = pages(&s, &url, false).await;
    assert_eq!(unfiltered.len(), 2);
    assert_chain(&unfiltered, &all);

    // The filter holds across pages, and the Link keeps it.
    let of_kind = |wanted: &str| -> BTreeSet<String> {
        let written = written
            .iter()
            .enumerate()
            .filter(|(i, _)| kind(*i) == wanted)
            .map(|(_, d)| d.to_string());
        let pushed = pushed
            .iter()
            .filter(|(_, k)| *k == wanted)
            .map(|(d, _)| d.to_string());
        written.chain(pushed).collect()
    };
    let many = pages(&s, &format!("{url}?artifactType=application/x.many"), true).await;
    assert_eq!(many.len(), 2);
    assert_chain(&many, &of_kind("application/x.many"));
    let few = pages(&s, &format!("{url}?artifactType=application%2Fx.few"), true).await;
    assert_eq!(few.len(), 1);
    assert_chain(&few, &of_kind("application/x.few"));

    // A page may start anywhere; a malformed `last` is refused.
    let first = &unfiltered[0];
    let response = s.get(&format!("{url}?last={}", first[9])).await;
    let page = listed(response).await;
    assert_eq!(page[0]["digest"], first[10]);
    let response = s.get(&format!("{url}?last=sha256:nope")).await;
    assert_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    s.stop().await;
}

/// Annotations make descriptors large: a page also stops before 4 MiB of them.
async fn large_annotations_are_paged_by_bytes(driver: Driver) {
    let s = TestServer::start(driver).await;
    let subject = Digest::sha256_of(b"annotated subject");
    let megabyte = 1024 * 1024;
    let written = index_entries(
        &s,
        "annotated",
        &subject,
        7,
        |_| "application/x.big",
        megabyte,
    )
    .await;
    let expected: BTreeSet<String> = written.iter().map(|d| d.to_string()).collect();
    let url = format!("/v2/annotated/referrers/{subject}");
    let mut seen = Vec::new();
    let mut next = Some(url);
    let mut pages = 0;
    while let Some(url) = next {
        let response = s.get(&url).await;
        next = header(&response, "Link").map(|l| {
            l.strip_prefix('<')
                .unwrap()
                .split('>')
                .next()
                .unwrap()
                .to_owned()
        });
        let body = response.bytes().await.unwrap();
        assert!(
            body.len() <= REFERRERS_PAGE_BYTES + 200,
            "{} bytes",
            body.len()
        );
        let index: Value = serde_json::from_slice(&body).unwrap();
        let page = index["manifests"].as_array().unwrap();
        assert!(
            !page.is_empty() && page.len() <= 3,
            "{} entries",
            page.len()
        );
        for d in page {
            assert_eq!(d["annotations"]["note"].as_str().unwrap().len(), megabyte);
            seen.push(d["digest"].as_str().unwrap().to_owned());
        }
        pages += 1;
    }
    assert_eq!(pages, 3);
    let distinct: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len());
    assert_eq!(distinct, expected);
    s.stop().await;
}

/// Deleting a subject leaves its referrers listed (the spec allows referrers before and
/// without their subject; garbage collection decides their fate, not the delete).
async fn referrers_outlive_their_deleted_subject(driver: Driver) {
    let s = TestServer::start(driver).await;
    let image = s.image("gone", 31, 1).await;
    s.push_manifest("gone", "v1", &image).await;
    let signature = artifact(
        &s,
        "gone",
        &image,
        Some("application/vnd.example.sig"),
        json!({}),
        32,
    )
    .await;
    s.push_manifest("gone", signature.digest().as_str(), &signature)
        .await;
    let response = s
        .delete(&format!("/v2/gone/manifests/{}", image.digest()))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        s.get(&format!("/v2/gone/manifests/{}", image.digest()))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let list = listed(referrers(&s, "gone", &image.digest(), "").await).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["digest"], signature.digest().as_str());
    s.stop().await;
}

/// A Docker schema 2 manifest with a `subject` (as some signing tools push) is a referrer
/// like an OCI one, listed with its own media type and its config's type as artifact type.
async fn docker_typed_referrers_are_listed(driver: Driver) {
    let s = TestServer::start(driver).await;
    let image = s.image("docker-ref", 33, 1).await;
    s.push_manifest("docker-ref", "v1", &image).await;
    let config = config_blob(34);
    let config_digest = s.push_blob("docker-ref", &config).await;
    let referrer = image_manifest(
        ImageFormat::Docker,
        (&config_digest, config.len() as u64),
        &[],
        Some(json!({"subject": image.descriptor()})),
    );
    s.push_manifest("docker-ref", referrer.digest().as_str(), &referrer)
        .await;
    let list = listed(referrers(&s, "docker-ref", &image.digest(), "").await).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["mediaType"], DOCKER_MANIFEST);
    assert_eq!(list[0]["digest"], referrer.digest().as_str());
    assert_eq!(list[0]["artifactType"], DOCKER_CONFIG);
    s.stop().await;
}

/// Descriptors may embed their content in `data` (OCI image spec 1.1): the manifest is
/// accepted when the blob is in the repository, kept byte for byte, and listed as a referrer.
async fn descriptors_with_data(driver: Driver) {
    use base64::Engine;
    let s = TestServer::start(driver).await;
    let image = s.image("embedded", 35, 1).await;
    s.push_manifest("embedded", "v1", &image).await;
    let empty = s.push_blob("embedded", b"{}").await;
    let layer = b"small layer";
    let layer_digest = s.push_blob("embedded", layer).await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(layer);
    let value = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.embedded",
        "config": {"mediaType": OCI_EMPTY, "digest": empty.as_str(), "size": 2, "data": "e30="},
        "layers": [{"mediaType": "text/plain", "digest": layer_digest.as_str(), "size": layer.len(), "data": encoded}],
        "subject": image.descriptor(),
    });
    let manifest = Manifest {
        media_type: OCI_MANIFEST.to_owned(),
        body: serde_json::to_vec(&value).unwrap(),
    };
    s.push_manifest("embedded", "with-data", &manifest).await;
    let response = s.get("/v2/embedded/manifests/with-data").await;
    assert_eq!(response.bytes().await.unwrap().as_ref(), &manifest.body[..]);
    let list = listed(referrers(&s, "embedded", &image.digest(), "").await).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["artifactType"], "application/vnd.example.embedded");
    s.stop().await;
}
