//! The generic store.
