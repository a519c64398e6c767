//! Object metadata helpers.
