//! Plain HTTP requests to either registry.

use super::layouts::{Manifest, sha256_digest};
use crate::e2e::scenarios::ensure;
use crate::process::Result;

/// Plain HTTP for what skopeo cannot do: pushes by digest (untagged referrers), blobs no
/// manifest names, and reading error codes.
pub(super) struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    pub(super) fn new() -> Result<Self> {
        Ok(Http {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?,
            client: reqwest::Client::new(),
        })
    }

    /// A two-step upload (POST, then PUT with the digest and the bytes); returns the digest.
    pub(super) fn upload_blob(&self, host: &str, repo: &str, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        let failed = |e: String| format!("uploading blob {digest} to {host}/{repo}: {e}");
        self.runtime.block_on(async {
            let response = self
                .client
                .post(format!("http://{host}/v2/{repo}/blobs/uploads/"))
                .send()
                .await
                .map_err(|e| failed(e.to_string()))?;
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| failed(format!("{} without Location", response.status())))?;
            let mut url = if location.starts_with("http") {
                location.to_owned()
            } else {
                format!("http://{host}{location}")
            };
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("digest={digest}"));
            let response = self
                .client
                .put(url)
                .header("content-type", "application/octet-stream")
                .body(bytes.to_vec())
                .send()
                .await
                .map_err(|e| failed(e.to_string()))?;
            let status = response.status();
            ensure(status.as_u16() == 201, || {
                failed(format!("PUT answered {status}"))
            })?;
            Ok(digest.clone())
        })
    }

    pub(super) fn put_manifest(&self, host: &str, repo: &str, manifest: &Manifest) -> Result {
        let url = format!("http://{host}/v2/{repo}/manifests/{}", manifest.digest);
        self.runtime.block_on(async {
            let response = self
                .client
                .put(&url)
                .header("content-type", manifest.media_type)
                .body(manifest.bytes.clone())
                .send()
                .await
                .map_err(|e| format!("PUT {url}: {e}"))?;
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            ensure(status.as_u16() == 201, || {
                format!("PUT {url} answered {status}: {body}")
            })
        })
    }

    /// GET `/v2/{path}`: status and body.
    pub(super) fn get(&self, host: &str, path: &str) -> Result<(u16, String)> {
        let url = format!("http://{host}/v2/{path}");
        self.runtime.block_on(async {
            let response = self
                .client
                .get(&url)
                .header(
                    "accept",
                    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
                     application/vnd.docker.distribution.manifest.v2+json",
                )
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            Ok((status, body))
        })
    }

    /// `who` answers 404 with `code` for `/v2/{path}`.
    pub(super) fn expect_unknown(&self, host: &str, path: &str, code: &str, who: &str) -> Result {
        let (status, body) = self.get(host, path)?;
        ensure(status == 404 && body.contains(code), || {
            format!("{who} answers GET /v2/{path} with {status} {body}; expected 404 {code}")
        })
    }

    /// `who` no longer serves the image `repo@manifest` nor any blob it named.
    pub(super) fn expect_image_removed(
        &self,
        host: &str,
        repo: &str,
        manifest: &Manifest,
        who: &str,
    ) -> Result {
        self.expect_unknown(
            host,
            &format!("{repo}/manifests/{}", manifest.digest),
            "MANIFEST_UNKNOWN",
            who,
        )?;
        for blob in manifest.references()? {
            self.expect_unknown(host, &format!("{repo}/blobs/{blob}"), "BLOB_UNKNOWN", who)?;
        }
        Ok(())
    }
}
