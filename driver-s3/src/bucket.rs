//! The S3 requests the driver makes, one method each, with the configured encryption and
//! storage class applied to every write and failures turned into [`S3Error`]s.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, ServerSideEncryption,
    StorageClass,
};
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::config::{Encryption, S3Config};
use crate::error::S3Error;

/// DeleteObjects and ListObjectsV2 handle at most this many keys per request.
pub(crate) const MAX_KEYS_PER_REQUEST: usize = 1000;

/// The largest buffer `get_bytes` allocates up front.
const PREALLOCATE_AT_MOST: u64 = 16 * 1024 * 1024;

/// A listed object.
#[derive(Debug, Clone)]
pub(crate) struct ObjectEntry {
    pub key: String,
    pub size: u64,
    pub modified: SystemTime,
}

/// An object's bytes as they arrive.
pub(crate) struct Download {
    pub body: BoxStream<'static, Result<Bytes, S3Error>>,
    /// Bytes in `body`, when the server said.
    pub length: Option<u64>,
    pub etag: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Default)]
pub(crate) struct ListPage {
    pub objects: Vec<ObjectEntry>,
    /// Common prefixes (with their trailing `/`), when listed with the delimiter.
    pub prefixes: Vec<String>,
    pub next_token: Option<String>,
}

/// An uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartRecord {
    pub number: i32,
    pub etag: String,
    pub size: u64,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UploadEntry {
    pub key: String,
    pub upload_id: String,
    pub initiated: SystemTime,
}

/// Which objects a listing returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Direct children: objects and common prefixes at one level.
    Children,
    /// Every object below the prefix.
    Everything,
}

/// Settings applied to every object the driver creates.
#[derive(Debug, Clone)]
struct WriteOptions {
    encryption: Option<ServerSideEncryption>,
    kms_key_id: Option<String>,
    storage_class: Option<StorageClass>,
}

/// A bucket with the driver's write options.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    client: Client,
    name: String,
    options: WriteOptions,
}

/// Applies the write options to any request builder that has the usual setters.
macro_rules! with_write_options {
    ($request:expr, $options:expr) => {
        $request
            .set_server_side_encryption($options.encryption.clone())
            .set_ssekms_key_id($options.kms_key_id.clone())
            .set_storage_class($options.storage_class.clone())
    };
}

impl Bucket {
    pub(crate) fn new(client: Client, config: &S3Config) -> Self {
        let (encryption, kms_key_id) = match config.encryption() {
            Encryption::None => (None, None),
            Encryption::S3Managed => (Some(ServerSideEncryption::Aes256), None),
            Encryption::Kms { key_id } => (Some(ServerSideEncryption::AwsKms), key_id.clone()),
        };
        Bucket {
            client,
            name: config.bucket().to_owned(),
            options: WriteOptions {
                encryption,
                kms_key_id,
                storage_class: config.storage_class().map(StorageClass::from),
            },
        }
    }

    pub(crate) async fn put(&self, key: &str, body: Bytes) -> Result<(), S3Error> {
        let request = self.client.put_object().bucket(&self.name).key(key);
        with_write_options!(request, self.options)
            .body(SdkByteStream::from(body))
            .send()
            .await
            .map_err(|e| S3Error::request("PutObject", key, e))?;
        Ok(())
    }

    /// The object's bytes from `offset`; with `if_match`, only if the object still has that
    /// ETag (so that a resumed download cannot splice two versions).
    pub(crate) async fn get(
        &self,
        key: &str,
        offset: u64,
        end: Option<u64>,
        if_match: Option<&str>,
    ) -> Result<Download, S3Error> {
        // An empty object has no satisfiable range, so the whole-object form is used from 0.
        // `end` is exclusive; HTTP ranges name the last byte.
        let range = match end {
            Some(end) if end > offset => Some(format!("bytes={offset}-{}", end - 1)),
            _ => (offset > 0).then(|| format!("bytes={offset}-")),
        };
        let output = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .set_range(range)
            .set_if_match(if_match.map(str::to_owned))
            .send()
            .await
            .map_err(|e| S3Error::request("GetObject", key, e))?;
        let length = output.content_length().and_then(|l| u64::try_from(l).ok());
        let etag = output.e_tag().map(str::to_owned);
        let operation_key = key.to_owned();
        let body = futures::stream::try_unfold(output.body, move |mut body| {
            let key = operation_key.clone();
            async move {
                match body.try_next().await {
                    Ok(Some(bytes)) => Ok(Some((bytes, body))),
                    Ok(None) => Ok(None),
                    Err(e) => Err(S3Error::body("GetObject", &key, e)),
                }
            }
        })
        .boxed();
        Ok(Download { body, length, etag })
    }

    /// A small object's whole content.
    pub(crate) async fn get_bytes(&self, key: &str) -> Result<Bytes, S3Error> {
        let download = self.get(key, 0, None, None).await?;
        // The announced length sizes the buffer, within reason: it comes from the network.
        let capacity = download.length.unwrap_or(0).min(PREALLOCATE_AT_MOST) as usize;
        let mut content = BytesMut::with_capacity(capacity);
        let mut body = download.body;
        while let Some(bytes) = body.try_next().await? {
            content.extend_from_slice(&bytes);
        }
        Ok(content.freeze())
    }

    pub(crate) async fn list_page(
        &self,
        prefix: &str,
        depth: Depth,
        continuation: Option<String>,
        start_after: Option<String>,
        max_keys: Option<i32>,
    ) -> Result<ListPage, S3Error> {
        let output = self
            .client
            .list_objects_v2()
            .bucket(&self.name)
            .prefix(prefix)
            .set_delimiter((depth == Depth::Children).then(|| "/".to_owned()))
            .set_continuation_token(continuation)
            .set_start_after(start_after)
            .set_max_keys(max_keys)
            .send()
            .await
            .map_err(|e| S3Error::request("ListObjectsV2", prefix, e))?;
        let objects: Vec<ObjectEntry> = output
            .contents()
            .iter()
            .filter_map(|object| {
                Some(ObjectEntry {
                    key: object.key()?.to_owned(),
                    size: object
                        .size()
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                    modified: object
                        .last_modified()
                        .and_then(|t| SystemTime::try_from(*t).ok())
                        .unwrap_or(SystemTime::UNIX_EPOCH),
                })
            })
            .collect();
        let prefixes: Vec<String> = output
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix().map(str::to_owned))
            .collect();
        // Some servers set a token on the last page, so a page marked complete ends the
        // listing. Some omit IsTruncated: their token is followed, but not after an empty page,
        // which would loop forever on a server that keeps answering with a token.
        let empty = objects.is_empty() && prefixes.is_empty();
        let more = match output.is_truncated() {
            Some(truncated) => truncated,
            None => !empty,
        };
        let next_token = more
            .then(|| output.next_continuation_token().map(str::to_owned))
            .flatten();
        Ok(ListPage {
            objects,
            prefixes,
            next_token,
        })
    }

    /// The object at exactly `key`, found by listing rather than HEAD: a listing gives size and
    /// time as well, and S3-compatible servers backed by a filesystem fail HEAD on keys that
    /// are (possibly empty) directories there.
    pub(crate) async fn find(&self, key: &str) -> Result<Option<ObjectEntry>, S3Error> {
        // `key` itself sorts before every other key it is a prefix of.
        let page = self
            .list_page(key, Depth::Everything, None, None, Some(1))
            .await?;
        Ok(page.objects.into_iter().find(|o| o.key == key))
    }

    /// True when some object lies below `prefix`.
    pub(crate) async fn has_objects_below(&self, prefix: &str) -> Result<bool, S3Error> {
        let page = self
            .list_page(prefix, Depth::Everything, None, None, Some(1))
            .await?;
        Ok(!page.objects.is_empty())
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), S3Error> {
        self.client
            .delete_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map_err(|e| S3Error::request("DeleteObject", key, e))?;
        Ok(())
    }

    /// Deletes up to [`MAX_KEYS_PER_REQUEST`] keys in one request; keys that do not exist count
    /// as deleted.
    pub(crate) async fn delete_batch(&self, keys: Vec<String>) -> Result<(), S3Error> {
        let Some(first) = keys.first().cloned() else {
            return Ok(());
        };
        let objects = keys
            .into_iter()
            .map(|key| ObjectIdentifier::builder().key(key).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| S3Error::build("DeleteObjects", &first, e))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| S3Error::build("DeleteObjects", &first, e))?;
        let output = self
            .client
            .delete_objects()
            .bucket(&self.name)
            .delete(delete)
            .send()
            .await
            .map_err(|e| S3Error::request("DeleteObjects", &first, e))?;
        if let Some(failed) = output.errors().first() {
            return Err(S3Error::PartialDelete {
                key: failed.key().unwrap_or_default().to_owned(),
                code: failed.code().unwrap_or_default().to_owned(),
                message: failed.message().unwrap_or_default().to_owned(),
                failed: output.errors().len(),
            });
        }
        Ok(())
    }

    pub(crate) async fn copy(&self, source_key: &str, dest_key: &str) -> Result<(), S3Error> {
        let request = self
            .client
            .copy_object()
            .bucket(&self.name)
            .key(dest_key)
            .copy_source(self.copy_source(source_key));
        with_write_options!(request, self.options)
            .send()
            .await
            .map_err(|e| S3Error::request("CopyObject", source_key, e))?;
        Ok(())
    }

    pub(crate) async fn create_upload(&self, key: &str) -> Result<String, S3Error> {
        let request = self
            .client
            .create_multipart_upload()
            .bucket(&self.name)
            .key(key);
        let output = with_write_options!(request, self.options)
            .send()
            .await
            .map_err(|e| S3Error::request("CreateMultipartUpload", key, e))?;
        output
            .upload_id()
            .map(str::to_owned)
            .ok_or_else(|| S3Error::incomplete("CreateMultipartUpload", key, "upload id"))
    }

    pub(crate) async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> Result<PartRecord, S3Error> {
        let size = body.len() as u64;
        let output = self
            .client
            .upload_part()
            .bucket(&self.name)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(SdkByteStream::from(body))
            .send()
            .await
            .map_err(|e| S3Error::request("UploadPart", key, e))?;
        let etag = output
            .e_tag()
            .ok_or_else(|| S3Error::incomplete("UploadPart", key, "ETag"))?;
        Ok(PartRecord {
            number,
            etag: etag.to_owned(),
            size,
        })
    }

    /// Copies bytes `start..end` of `source_key` as part `number` of an upload.
    pub(crate) async fn upload_part_copy(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        source_key: &str,
        start: u64,
        end: u64,
    ) -> Result<PartRecord, S3Error> {
        let output = self
            .client
            .upload_part_copy()
            .bucket(&self.name)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .copy_source(self.copy_source(source_key))
            .copy_source_range(format!("bytes={start}-{}", end - 1))
            .send()
            .await
            .map_err(|e| S3Error::request("UploadPartCopy", source_key, e))?;
        let etag = output
            .copy_part_result()
            .and_then(|r| r.e_tag())
            .ok_or_else(|| S3Error::incomplete("UploadPartCopy", key, "ETag"))?;
        Ok(PartRecord {
            number,
            etag: etag.to_owned(),
            size: end - start,
        })
    }

    /// Completes an upload from its parts, which must be in part-number order.
    pub(crate) async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartRecord],
    ) -> Result<(), S3Error> {
        let parts = parts
            .iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(p.number)
                    .e_tag(&p.etag)
                    .build()
            })
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.name)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| S3Error::request("CompleteMultipartUpload", key, e))?;
        Ok(())
    }

    /// Every multipart upload in progress to a key starting with `prefix`, through every page.
    pub(crate) async fn list_uploads(&self, prefix: &str) -> Result<Vec<UploadEntry>, S3Error> {
        let mut uploads = Vec::new();
        let (mut key_marker, mut id_marker) = (None, None);
        loop {
            let output = self
                .client
                .list_multipart_uploads()
                .bucket(&self.name)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| S3Error::request("ListMultipartUploads", prefix, e))?;
            for upload in output.uploads() {
                let (Some(key), Some(upload_id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                let initiated = upload
                    .initiated()
                    .and_then(|t| SystemTime::try_from(*t).ok())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                uploads.push(UploadEntry {
                    key: key.to_owned(),
                    upload_id: upload_id.to_owned(),
                    initiated,
                });
            }
            if output.is_truncated() != Some(true) {
                return Ok(uploads);
            }
            key_marker = output.next_key_marker().map(str::to_owned);
            id_marker = output.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && id_marker.is_none() {
                return Ok(uploads); // a truncated page without markers cannot be continued
            }
        }
    }

    pub(crate) async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.name)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| S3Error::request("AbortMultipartUpload", key, e))?;
        Ok(())
    }

    pub(crate) async fn presign_get(&self, key: &str, expiry: Duration) -> Result<String, S3Error> {
        let request = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .presigned(presigning(key, expiry)?)
            .await
            .map_err(|e| S3Error::request("presign GetObject", key, e))?;
        Ok(request.uri().to_owned())
    }

    pub(crate) async fn presign_head(
        &self,
        key: &str,
        expiry: Duration,
    ) -> Result<String, S3Error> {
        let request = self
            .client
            .head_object()
            .bucket(&self.name)
            .key(key)
            .presigned(presigning(key, expiry)?)
            .await
            .map_err(|e| S3Error::request("presign HeadObject", key, e))?;
        Ok(request.uri().to_owned())
    }

    /// `bucket/key` as CopyObject wants it: URL-encoded.
    fn copy_source(&self, key: &str) -> String {
        format!("{}/{}", self.name, percent_encode_key(key))
    }
}

fn presigning(key: &str, expiry: Duration) -> Result<PresigningConfig, S3Error> {
    PresigningConfig::expires_in(expiry).map_err(|e| S3Error::Presign {
        key: key.to_owned(),
        source: Box::new(e),
    })
}

/// Percent-encodes everything but unreserved characters and `/`. Storage paths only hold
/// unreserved characters, but a bucket may be shared with keys written by other tools.
fn percent_encode_key(key: &str) -> String {
    let mut encoded = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    #[test]
    fn copy_source_encoding() {
        assert_eq!(super::percent_encode_key("a/b-c.d_e~f"), "a/b-c.d_e~f");
        assert_eq!(super::percent_encode_key("a b+é"), "a%20b%2B%C3%A9");
    }
}
