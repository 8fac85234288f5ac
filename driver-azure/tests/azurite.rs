//! Azure-specific behaviour, on Azurite: listings past one page, uploads resumed by new driver
//! instances and the private blobs behind them, SAS URLs fetched by a plain HTTP client, and
//! startup checks. Each test works below its own root directory and removes it.
mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use azure_storage::shared_access_signature::service_sas::BlobSasPermissions;
use azure_storage::{CloudLocation, StorageCredentials};
use azure_storage_blobs::prelude::{ClientBuilder, ContainerClient};
use bytes::Bytes;
use driver_azure::{AzureConfig, AzureDriver};
use futures::{StreamExt, TryStreamExt};
use registry_core::storage::walk::walk_order;
use registry_core::storage::{RedirectMethod, Storage, StorageError, StoragePath, WalkControl};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, RANGE};

use common::Azurite;

const MIB: usize = 1024 * 1024;

/// Azurite's coordinates, and a root directory of the test's own.
struct TestBed {
    service_url: String,
    account: String,
    key: String,
    container: String,
    root: String,
}

impl TestBed {
    fn new() -> Option<TestBed> {
        let Azurite {
            service_url,
            account,
            key,
            container,
        } = Azurite::from_env()?;
        Some(TestBed {
            service_url,
            account,
            key,
            container,
            root: format!("azure-tests-{}", uuid::Uuid::new_v4().simple()),
        })
    }

    fn config(&self) -> AzureConfig {
        let mut config = AzureConfig::shared_key(
            &self.account,
            &self.key,
            &self.container,
            self.service_url.parse().expect("service URL"),
        );
        config.root_directory = self.root.clone();
        config
    }

    /// A driver instance of its own, as another process would have.
    async fn storage(&self) -> Storage {
        let driver = AzureDriver::new(self.config())
            .await
            .expect("connecting to Azurite");
        Storage::new(Arc::new(driver))
    }

    /// The SDK's view of the container, private blobs included.
    fn raw(&self) -> ContainerClient {
        let location = CloudLocation::Custom {
            account: self.account.clone(),
            uri: self.service_url.clone(),
        };
        let credentials = StorageCredentials::access_key(self.account.clone(), self.key.clone());
        ClientBuilder::with_location(location, credentials).container_client(&self.container)
    }

    /// Names of the committed blobs below the root directory.
    async fn raw_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut pages = self
            .raw()
            .list_blobs()
            .prefix(format!("{}/", self.root))
            .into_stream();
        while let Some(page) = pages.next().await {
            let page = page.expect("raw listing");
            names.extend(page.blobs.blobs().map(|b| b.name.clone()));
        }
        names
    }

    /// Names of every blob below the root directory, including blobs that hold nothing but
    /// staged (uncommitted) blocks. The SDK cannot parse such listings from Azurite (they lack
    /// a Content-Type), so this asks with a container SAS and a plain HTTP client.
    async fn all_names_with_uncommitted(&self) -> Vec<String> {
        let raw = self.raw();
        let permissions = BlobSasPermissions {
            list: true,
            ..Default::default()
        };
        let expiry = SystemTime::now() + Duration::from_secs(300);
        let sas = raw
            .shared_access_signature(permissions, expiry.into())
            .await
            .expect("container SAS");
        let mut url = raw.generate_signed_container_url(&sas).expect("SAS URL");
        url.query_pairs_mut()
            .append_pair("restype", "container")
            .append_pair("comp", "list")
            .append_pair("include", "uncommittedblobs")
            .append_pair("prefix", &format!("{}/", self.root));
        let response = reqwest::get(url.as_str()).await.expect("listing");
        assert_eq!(response.status(), StatusCode::OK);
        let xml = response.text().await.expect("listing body");
        assert!(!xml.contains("<NextMarker>"), "more than one page");
        xml.split("<Name>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Name>").map(|(name, _)| name.to_owned()))
            .collect()
    }

    /// Removes everything below the root directory.
    async fn clean_up(&self) {
        let raw = self.raw();
        for name in self.raw_names().await {
            raw.blob_client(name).delete().await.expect("raw delete");
        }
        let left = self.all_names_with_uncommitted().await;
        assert!(left.is_empty(), "blobs left behind: {left:?}");
    }
}

fn path(p: &str) -> StoragePath {
    StoragePath::parse(p).expect("valid path")
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn read_all(storage: &Storage, p: &str) -> Vec<u8> {
    let stream = storage.reader(p, 0).await.expect("reader");
    let chunks: Vec<Bytes> = stream.try_collect().await.expect("read");
    chunks.concat()
}

// ---- listings past one page ------------------------------------------------------------------

/// More children than one page of results (5000): `list`, `walk` and the directory delete must
/// all follow the continuation markers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_walks_and_deletes_past_one_page() {
    let Some(bed) = TestBed::new() else { return };
    let storage = bed.storage().await;
    const FILES: usize = 5003;
    let mut names: Vec<String> = (0..FILES).map(|i| format!("/many/f{i:05}")).collect();
    // A subdirectory whose name sorts after the files byte-wise and a `-` sibling that walks
    // after it, to check the walk order past the page boundary.
    names.extend(["/many/z/inner".to_owned(), "/many/z-after".to_owned()]);
    let started = Instant::now();
    futures::stream::iter(names.iter())
        .map(|name| {
            let storage = storage.clone();
            async move {
                storage
                    .put_content(name, Bytes::from(name.clone().into_bytes()))
                    .await
                    .map_err(|e| format!("put {name}: {e}"))
            }
        })
        .buffer_unordered(64)
        .try_collect::<()>()
        .await
        .expect("creating the blobs");
    println!("created {} blobs in {:?}", names.len(), started.elapsed());

    let phase = Instant::now();
    let listed: HashSet<String> = storage
        .list("/many")
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(listed.len(), FILES + 2, "files, `z` and `z-after`");
    assert!(listed.contains("/many/f00000") && listed.contains("/many/f05002"));
    assert!(listed.contains("/many/z") && listed.contains("/many/z-after"));
    println!("listed in {:?}", phase.elapsed());
    let phase = Instant::now();

    let mut walked = Vec::new();
    storage
        .walk("/many", None, &mut |info| {
            if !info.is_dir {
                assert_eq!(info.size, info.path.as_str().len() as u64, "{}", info.path);
            }
            walked.push(info.path.clone());
            Ok(WalkControl::Continue)
        })
        .await
        .expect("walk");
    let mut expected: Vec<StoragePath> = names.iter().map(|n| path(n)).collect();
    expected.push(path("/many/z"));
    expected.sort_by(walk_order);
    assert_eq!(walked.len(), FILES + 3);
    assert_eq!(walked, expected, "walk order");
    assert_eq!(walked[FILES].as_str(), "/many/z");
    assert_eq!(walked[FILES + 2].as_str(), "/many/z-after");
    println!("walked in {:?}", phase.elapsed());

    // Resuming after an entry on the second page.
    let mut rest = 0;
    storage
        .walk("/many", Some("/many/f05000"), &mut |_| {
            rest += 1;
            Ok(WalkControl::Continue)
        })
        .await
        .expect("walk from the middle");
    assert_eq!(rest, 2 + 3, "f05001, f05002, z, z/inner, z-after");

    let phase = Instant::now();
    storage.delete("/many").await.expect("delete past one page");
    println!("deleted in {:?}", phase.elapsed());
    assert!(storage.stat("/many").await.is_err_and(|e| e.is_not_found()));
    assert!(bed.raw_names().await.is_empty());
    bed.clean_up().await;
}

// ---- uploads -----------------------------------------------------------------------------------

/// An upload of several blocks, closed and resumed twice by new driver instances, then
/// committed: the content is whole, and the private staging blob is hidden meanwhile and gone
/// afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_resumes_across_instances_and_leaves_no_private_blob() {
    let Some(bed) = TestBed::new() else { return };
    let first = pattern(17 * MIB + 3, 1); // two full blocks and a rest
    let second = pattern(5 * MIB + 1, 2);

    let storage = bed.storage().await;
    let mut writer = storage.writer("/up/data", false).await.expect("writer");
    for piece in first.chunks(3 * MIB) {
        writer
            .write(Bytes::copy_from_slice(piece))
            .await
            .expect("write");
    }
    writer.close().await.expect("close");

    // Closed progress is a private blob: stored, but neither listed nor readable.
    let raw = bed.raw_names().await;
    assert_eq!(raw.len(), 1, "{raw:?}");
    assert!(
        raw[0].starts_with(&format!("{}/up/data~upload-", bed.root)),
        "{raw:?}"
    );
    assert!(storage.list("/up").await.expect("list").is_empty());
    assert!(
        storage
            .stat("/up/data")
            .await
            .is_err_and(|e| e.is_not_found())
    );

    let other_process = bed.storage().await;
    let mut writer = other_process
        .writer("/up/data", true)
        .await
        .expect("resume");
    assert_eq!(writer.size(), first.len() as u64);
    writer
        .write(Bytes::from(second.clone()))
        .await
        .expect("write");
    writer.close().await.expect("close");

    let third_process = bed.storage().await;
    let writer = third_process
        .writer("/up/data", true)
        .await
        .expect("resume again");
    assert_eq!(writer.size(), (first.len() + second.len()) as u64);
    writer.commit().await.expect("commit");

    assert_eq!(
        read_all(&bed.storage().await, "/up/data").await,
        [first, second].concat()
    );
    let raw = bed.all_names_with_uncommitted().await;
    assert_eq!(
        raw,
        vec![format!("{}/up/data", bed.root)],
        "only the content is left"
    );
    bed.clean_up().await;
}

/// Two uploads to one path, both closed: the later close wins, as a rename would, and the
/// earlier one's private blob is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_close_of_an_upload_wins() {
    let Some(bed) = TestBed::new() else { return };
    let storage = bed.storage().await;
    let mut first = storage.writer("/race/data", false).await.expect("writer");
    let mut second = storage.writer("/race/data", false).await.expect("writer");
    first
        .write(Bytes::from_static(b"first"))
        .await
        .expect("write");
    second
        .write(Bytes::from_static(b"second!"))
        .await
        .expect("write");
    first.close().await.expect("close");
    second.close().await.expect("close");
    assert_eq!(bed.raw_names().await.len(), 1, "superseded upload left");

    let writer = bed
        .storage()
        .await
        .writer("/race/data", true)
        .await
        .expect("resume");
    assert_eq!(writer.size(), 7);
    writer.commit().await.expect("commit");
    assert_eq!(read_all(&storage, "/race/data").await, b"second!");
    bed.clean_up().await;
}

/// `cancel` removes the staged blocks too, not just committed blobs; a writer dropped
/// mid-upload cleans up after itself in the background.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_drop_remove_staged_blocks() {
    let Some(bed) = TestBed::new() else { return };
    let storage = bed.storage().await;

    let mut writer = storage.writer("/c/cancelled", false).await.expect("writer");
    writer
        .write(Bytes::from(pattern(9 * MIB, 3)))
        .await
        .expect("write");
    // The first block is on its way: it shows as an uncommitted blob once staged.
    wait_until(|| async { bed.all_names_with_uncommitted().await.len() == 1 }).await;
    assert!(
        bed.raw_names().await.is_empty(),
        "staged blocks are not content"
    );
    writer.cancel().await.expect("cancel");
    let left = bed.all_names_with_uncommitted().await;
    assert!(left.is_empty(), "cancel left {left:?}");

    let mut writer = storage.writer("/c/dropped", false).await.expect("writer");
    writer
        .write(Bytes::from(pattern(9 * MIB, 4)))
        .await
        .expect("write");
    wait_until(|| async { bed.all_names_with_uncommitted().await.len() == 1 }).await;
    drop(writer);
    wait_until(|| async { bed.all_names_with_uncommitted().await.is_empty() }).await;
    bed.clean_up().await;
}

/// Polls `condition` for up to 30 seconds: what is waited for (blocks staged, an abandoned
/// writer's blocks removed in the background) has no deadline of its own, and a loaded
/// 2-core machine with Azurite on it can take more than 10 s.
async fn wait_until<F, Fut>(condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition().await {
        assert!(Instant::now() < deadline, "condition not met within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Without a root directory the driver's root is the container's: its listing shows the
/// top-level names of everything in the container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_at_the_container_root() {
    let Some(mut bed) = TestBed::new() else {
        return;
    };
    bed.root = format!("azure-rootless-{}", uuid::Uuid::new_v4().simple());
    let mut config = bed.config();
    config.root_directory = String::new();
    let storage = Storage::new(Arc::new(AzureDriver::new(config).await.expect("driver")));
    let top = format!("/{}", bed.root);
    storage
        .put_content(&format!("{top}/dir/file"), "content")
        .await
        .expect("put");
    let listed = storage.list("/").await.expect("list /");
    assert!(
        listed.iter().any(|p| p.as_str() == top),
        "{top} not in {listed:?}"
    );
    assert!(storage.stat("/").await.expect("stat /").is_dir);
    let mut walked = Vec::new();
    storage
        .walk(&top, None, &mut |info| {
            walked.push((info.path.to_string(), info.is_dir));
            Ok(WalkControl::Continue)
        })
        .await
        .expect("walk");
    assert_eq!(
        walked,
        vec![
            (format!("{top}/dir"), true),
            (format!("{top}/dir/file"), false)
        ]
    );
    assert_eq!(
        bed.raw_names().await,
        vec![format!("{}/dir/file", bed.root)],
        "stored under the path itself"
    );
    storage.delete(&top).await.expect("delete");
    assert!(storage.stat(&top).await.is_err_and(|e| e.is_not_found()));
    bed.clean_up().await;
}

// ---- SAS URLs ----------------------------------------------------------------------------------

/// The redirect URL is a read-only SAS that a plain HTTP client can use for GET, HEAD and
/// ranges; a tampered one, one for another blob, or a write with it are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sas_url_serves_get_head_and_range_and_nothing_else() {
    let Some(bed) = TestBed::new() else { return };
    let storage = bed.storage().await;
    let content = pattern(100_000, 5);
    storage
        .put_content("/sas/blob", content.clone())
        .await
        .expect("put");
    storage.put_content("/sas/other", "x").await.expect("put");
    let url = storage
        .redirect_url("/sas/blob", RedirectMethod::Get, Duration::from_secs(600))
        .await
        .expect("redirect_url")
        .expect("the azure driver always hands out URLs");
    let head_url = storage
        .redirect_url("/sas/blob", RedirectMethod::Head, Duration::from_secs(600))
        .await
        .expect("redirect_url")
        .expect("a URL");
    let parsed = reqwest::Url::parse(&url).expect("URL");
    let query: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} missing from {url}"))
    };
    assert_eq!(param("sp"), "r", "read-only");
    assert_eq!(param("sr"), "b", "one blob");

    let http = reqwest::Client::new();
    let response = http.get(&url).send().await.expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.expect("body").as_ref(), &content[..]);

    let response = http.head(&head_url).send().await.expect("HEAD");
    assert_eq!(response.status(), StatusCode::OK);
    let length = response
        .headers()
        .get(CONTENT_LENGTH)
        .expect("Content-Length");
    assert_eq!(length.to_str().expect("ASCII"), content.len().to_string());

    let response = http
        .get(&url)
        .header(RANGE, "bytes=1000-1999")
        .send()
        .await
        .expect("ranged GET");
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        &content[1000..2000]
    );

    // A changed signature, widened permissions, another blob, a write: all refused.
    let signature = param("sig");
    let mut flipped = signature.clone().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let tampered = [
        url.replace(
            &format!("sig={}", urlencode(&signature)),
            &format!(
                "sig={}",
                urlencode(&String::from_utf8(flipped).expect("ASCII"))
            ),
        ),
        url.replace("sp=r", "sp=rw"),
        url.replace("/sas/blob?", "/sas/other?"),
    ];
    for bad in &tampered {
        assert_ne!(bad, &url, "the URL was not changed");
        let response = http.get(bad).send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{bad}");
    }
    let response = http
        .put(&url)
        .header("x-ms-blob-type", "BlockBlob")
        .body("overwritten")
        .send()
        .await
        .expect("PUT");
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "a read SAS allowed a write"
    );
    assert_eq!(read_all(&storage, "/sas/blob").await, content);
    bed.clean_up().await;
}

/// The URL stops working at the requested expiry. SAS times have whole seconds, so a 3 s
/// URL is good for at least 2 s: the fresh use is judged only when it came within 1.5 s of
/// signing (a loaded machine retries with a new URL instead of loosening the check), and the
/// stale use comes 2 s past the expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sas_url_expires_as_requested() {
    let Some(bed) = TestBed::new() else { return };
    let storage = bed.storage().await;
    storage
        .put_content("/sas/short", "soon gone")
        .await
        .expect("put");
    let http = reqwest::Client::new();
    let mut fresh = None;
    for _ in 0..5 {
        let signed = std::time::Instant::now();
        let url = storage
            .redirect_url("/sas/short", RedirectMethod::Get, Duration::from_secs(3))
            .await
            .expect("redirect_url")
            .expect("a URL");
        let status = http.get(&url).send().await.expect("GET").status();
        if signed.elapsed() < Duration::from_millis(1500) {
            assert_eq!(status, StatusCode::OK, "a fresh SAS works");
            fresh = Some((url, signed));
            break;
        }
    }
    let (url, signed) = fresh.expect("no SAS signed and used within 1.5 s in five tries");
    tokio::time::sleep_until((signed + Duration::from_secs(3 + 2)).into()).await;
    let status = http.get(&url).send().await.expect("GET").status();
    assert_eq!(status, StatusCode::FORBIDDEN, "an expired SAS still worked");
    bed.clean_up().await;
}

fn urlencode(value: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", [("v", value)])
        .expect("URL")
        .query()
        .unwrap_or_default()
        .trim_start_matches("v=")
        .to_owned()
}

// ---- startup -----------------------------------------------------------------------------------

/// A missing container is created at startup; bad credentials and an unreachable endpoint
/// fail the startup with an error that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_creates_the_container_and_reports_bad_settings() {
    let Some(bed) = TestBed::new() else { return };
    let mut config = bed.config();
    config.container = format!(
        "created-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let storage = Storage::new(Arc::new(
        AzureDriver::new(config.clone())
            .await
            .expect("startup creates the container"),
    ));
    storage
        .put_content("/x", "x")
        .await
        .expect("put into the new container");
    AzureDriver::new(config.clone())
        .await
        .expect("startup with the container present");
    let raw = bed.raw();
    let created = raw.service_client().container_client(&config.container);
    created.delete().await.expect("removing the test container");

    let mut wrong_key = bed.config();
    wrong_key.credentials = driver_azure::AzureCredentials::SharedKey {
        account_key: "d3Jvbmcga2V5".to_owned(), // valid base64, wrong key
    };
    let error = AzureDriver::new(wrong_key)
        .await
        .expect_err("a wrong key must fail");
    assert!(matches!(error, StorageError::Backend { .. }), "{error:?}");
    assert!(error.to_string().contains("checking container"), "{error}");

    let mut unreachable = bed.config();
    unreachable.service_url = "http://127.0.0.1:9/devstoreaccount1".parse().expect("URL");
    unreachable.max_retries = 0;
    let error = AzureDriver::new(unreachable)
        .await
        .expect_err("an unreachable endpoint must fail");
    assert!(error.to_string().contains("checking container"), "{error}");
}
