//! Deleting an object or a whole prefix, with the progress of closed writers below it.

use registry_core::storage::StoragePath;

use crate::bucket::{Depth, MAX_KEYS_PER_REQUEST};
use crate::driver::Context;
use crate::error::S3Error;
use crate::keys::KeyLayout;
use crate::parts::abort_upload;
use crate::progress::Progress;

/// Deletes the object at `path` and everything below it, then the records (with their tails
/// and multipart uploads) of writers closed at or below it. True when an object was found.
pub(crate) async fn delete_path(context: &Context, path: &StoragePath) -> Result<bool, S3Error> {
    let bucket = &context.bucket;
    let key = context.layout.object(path);
    let mut found = false;
    if bucket.find(&key).await?.is_some() {
        bucket.delete_batch(vec![key]).await?;
        found = true;
    }
    found |= delete_prefix(context, &context.layout.directory(path)).await? > 0;
    discard_pending(context, &context.layout.pending_directory(path)).await?;
    Ok(found)
}

/// Deletes every object below `prefix` (which ends in `/`), a listing page (at most 1000 keys)
/// per DeleteObjects request. Returns how many were deleted.
async fn delete_prefix(context: &Context, prefix: &str) -> Result<usize, S3Error> {
    let bucket = &context.bucket;
    let mut deleted = 0;
    // Listing resumes after the last deleted key rather than with a continuation token: the
    // keys a token might refer to are gone by then.
    let mut start_after = None;
    loop {
        let page = bucket
            .list_page(
                prefix,
                Depth::Everything,
                None,
                start_after.take(),
                Some(MAX_KEYS_PER_REQUEST as i32),
            )
            .await?;
        let keys: Vec<String> = page.objects.into_iter().map(|o| o.key).collect();
        let Some(last) = keys.last().cloned() else {
            return Ok(deleted);
        };
        deleted += keys.len();
        bucket.delete_batch(keys).await?;
        if page.next_token.is_none() {
            return Ok(deleted);
        }
        start_after = Some(last);
    }
}

/// Aborts the uploads recorded below `prefix` in the pending tree, then deletes the records and
/// tails. Aborting is best effort: a record may outlive its upload (completed by a commit that
/// was interrupted before removing the record), and the server may refuse aborting it again.
async fn discard_pending(context: &Context, prefix: &str) -> Result<(), S3Error> {
    let bucket = &context.bucket;
    let mut continuation = None;
    loop {
        let page = bucket
            .list_page(prefix, Depth::Everything, continuation, None, None)
            .await?;
        for object in page
            .objects
            .iter()
            .filter(|o| KeyLayout::is_progress(&o.key))
        {
            let progress = match Progress::load(bucket, &object.key).await {
                Ok(progress) => progress,
                Err(e) => {
                    tracing::warn!(key = %object.key, error = %e, "unreadable writer record");
                    None
                }
            };
            if let Some(Progress {
                key,
                upload_id: Some(upload_id),
                ..
            }) = progress
                && let Err(e) = abort_upload(bucket, &key, &upload_id).await
            {
                tracing::warn!(%key, %upload_id, error = %e, "aborting an abandoned upload");
            }
        }
        match page.next_token {
            Some(token) => continuation = Some(token),
            None => break,
        }
    }
    delete_prefix(context, prefix).await?;
    Ok(())
}
