//! Staging blobs of writers that never finished, for upload purging.
//!
//! Every writer stages its blocks into its own private blob `<blob>~upload-<writer id>` (see
//! [`crate::writer`]). `delete` of a directory removes the committed ones below it (closed
//! writers' progress); a writer whose process died before its first close leaves a blob with
//! only uncommitted blocks, which ordinary listings do not show and which the service keeps
//! for a week. Both kinds are found here by a listing that includes uncommitted blobs.
//!
//! That listing is made with a list-only SAS and the driver's HTTP client rather than through
//! the SDK: the SDK cannot read the entries of uncommitted blobs (they have no `Content-Type`,
//! which its response type requires).

use std::time::{Duration, SystemTime};

use registry_core::storage::{PendingWrite, Result, StoragePath};
use serde::Deserialize;

use crate::driver::Shared;
use crate::error::backend;
use crate::writer::AzureWriter;

/// How long the listing's SAS is valid: one page request at a time is signed anew.
const LIST_SAS_VALIDITY: Duration = Duration::from_secs(15 * 60);

/// The staging blobs of writers to `path` or below it.
pub(crate) async fn pending_writes(
    shared: &Shared,
    path: &StoragePath,
) -> Result<Vec<PendingWrite>> {
    let names = &shared.names;
    // A file's staging blobs start with its name; a directory's lie below its prefix. The
    // file's name is a prefix of its siblings' (`/a`, `/ab`) too: those are filtered out.
    let prefix = if path.is_root() {
        names.dir_prefix(path)
    } else {
        names.blob(path)
    };
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = list_page(shared, &prefix, marker.as_deref())
            .await
            .map_err(|e| backend("listing staging blobs below", path, e))?;
        for blob in page.blobs.blob {
            let Some(target) = names.upload_target(&blob.name) else {
                continue;
            };
            let below = target.as_str().starts_with(&format!("{}/", path.as_str()));
            if !path.is_root() && target != *path && !below {
                continue;
            }
            let started = azure_core::date::parse_rfc1123(&blob.properties.last_modified)
                .map(SystemTime::from)
                .map_err(|e| backend("reading the listing below", path, e))?;
            found.push(PendingWrite {
                path: target,
                started,
                id: blob.name,
            });
        }
        match page.next_marker.filter(|m| !m.is_empty()) {
            Some(next) => marker = Some(next),
            None => return Ok(found),
        }
    }
}

/// One page of `List Blobs` with `include=uncommittedblobs`.
async fn list_page(
    shared: &Shared,
    prefix: &str,
    marker: Option<&str>,
) -> std::result::Result<ListPage, Box<dyn std::error::Error + Send + Sync>> {
    let container = &shared.container;
    let mut url = container
        .signer
        .list_url(container.client(), LIST_SAS_VALIDITY)
        .await?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("restype", "container")
            .append_pair("comp", "list")
            .append_pair("include", "uncommittedblobs")
            .append_pair("prefix", prefix);
        if let Some(marker) = marker {
            query.append_pair("marker", marker);
        }
    }
    let response = container
        .http
        .get(url.as_str())
        .header("x-ms-version", "2023-11-03")
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        return Err(format!("List Blobs answered {status}: {text}").into());
    }
    Ok(azure_core::xml::read_xml(&body)?)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPage {
    #[serde(default)]
    blobs: ListedBlobs,
    next_marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ListedBlobs {
    #[serde(rename = "Blob", default)]
    blob: Vec<ListedBlob>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedBlob {
    name: String,
    properties: ListedProperties,
}

#[derive(Debug, Deserialize)]
struct ListedProperties {
    #[serde(rename = "Last-Modified")]
    last_modified: String,
}

/// Empties and removes a staging blob, uncommitted blocks included.
pub(crate) async fn remove(shared: &Shared, write: &PendingWrite) -> Result<()> {
    let upload = shared.container.blob(write.id.clone());
    AzureWriter::discard_upload(&upload)
        .await
        .map_err(|e| backend("removing the staging blob of", &write.path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_listing_with_uncommitted_blobs() {
        // As Azurite answers: the uncommitted blob has no Content-Type.
        let xml = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><EnumerationResults ServiceEndpoint="http://127.0.0.1:1/devstoreaccount1" ContainerName="c"><Prefix>p</Prefix><Marker/><MaxResults>5000</MaxResults><Blobs><Blob><Name>p/object~upload-b17e698c7e9343b487454dfd3aa039ae</Name><Properties><Creation-Time>Tue, 01 Dec 2026 18:11:46 GMT</Creation-Time><Last-Modified>Tue, 01 Dec 2026 18:11:46 GMT</Last-Modified><Etag>0x1DDDE7C06D1A7B0</Etag><Content-Length>0</Content-Length><BlobType>BlockBlob</BlobType></Properties></Blob><Blob><Name>p/x</Name><Properties><Last-Modified>Tue, 01 Dec 2026 18:11:47 GMT</Last-Modified><Content-Type>application/octet-stream</Content-Type></Properties></Blob></Blobs><NextMarker/></EnumerationResults>"#;
        let page: ListPage = azure_core::xml::read_xml(xml.as_bytes()).unwrap();
        assert_eq!(page.blobs.blob.len(), 2);
        assert_eq!(
            page.blobs.blob[0].name,
            "p/object~upload-b17e698c7e9343b487454dfd3aa039ae"
        );
        assert!(
            azure_core::date::parse_rfc1123(&page.blobs.blob[1].properties.last_modified).is_ok()
        );
        assert!(page.next_marker.filter(|m| !m.is_empty()).is_none());
        let empty = r#"<?xml version="1.0" encoding="UTF-8"?><EnumerationResults><Blobs /><NextMarker /></EnumerationResults>"#;
        let page: ListPage = azure_core::xml::read_xml(empty.as_bytes()).unwrap();
        assert!(page.blobs.blob.is_empty());
    }
}
