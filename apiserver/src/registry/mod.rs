//! The generic registry: one [`store::Store`] serves every kind listed in [`kinds`],
//! with the per-kind differences in [`strategy::Strategy`] implementations.

pub mod allocator;
pub mod apply;
pub mod binding;
pub mod continue_token;
pub mod conversion;
pub mod eviction;
pub mod kinds;
pub mod meta;
pub mod reviews;
pub mod scale;
pub mod selectors;
pub mod store;
pub mod strategies;
pub mod strategy;
pub mod table;
