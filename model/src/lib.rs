//! Flux domain model.
