//! flux-sim: fakes Flux controllers. Scenarios, a deterministic core, an embedded Kubernetes API,
//! and real-time controllers driving Flux objects through any Kubernetes API.

pub mod apiserver;
pub mod core;
pub mod notify;
pub mod scenario;
pub mod controllers;
pub mod seed;
pub mod serve;
pub mod signals;
pub mod telemetry;
