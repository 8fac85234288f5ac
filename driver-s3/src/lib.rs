//! The S3 storage driver (aws-sdk-s3). Not implemented yet: this crate only reserves its place
//! in the workspace.
