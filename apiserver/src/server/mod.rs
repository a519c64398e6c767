//! HTTPS server.

/// Server configuration.
pub struct Config;
/// The API server.
pub struct Server;
