//! WeShop storage: backends behind `weshop-core`'s storage traits.
//!
//! This crate will hold an in-memory backend and a SurrealDB backend (embedded memory, embedded
//! file, remote server), selected by URL, and one conformance suite that every backend passes.
//! It is empty until the shop-core work defines the traits it implements.
#![forbid(unsafe_code)]

pub use weshop_core as core;
