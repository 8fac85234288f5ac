//! The HTTP server. Not implemented yet.
