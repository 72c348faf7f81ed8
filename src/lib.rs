//! siptrunk-operator: keeps SIP trunks on voice-AI platforms equal to `SipTrunk` objects.
//!
//! Layout: `crd` (API types), `model` (provider wire types, matching and diffing, no I/O),
//! `provider` (HTTP clients), `controller` (reconcile pipeline), `runner` (wiring of one
//! controller instance), `leader` (Lease election), `server` (metrics and health endpoints),
//! `emulator` (provider stand-in), `kubeemu` (Kubernetes API stand-in), `demo` (everything in
//! one process), `plan` (what the operator would do for YAML files, read-only).
//!
//! The stand-ins (`emulator`, `kubeemu`, `demo`, `bench`) are behind the default-on cargo
//! feature `standins`: `cargo build --no-default-features` builds the operator alone.

#[cfg(feature = "standins")]
pub mod bench;
pub mod controller;
pub mod crd;
#[cfg(feature = "standins")]
pub mod demo;
#[cfg(feature = "standins")]
pub mod emulator;
#[cfg(feature = "standins")]
pub mod kubeemu;
pub mod leader;
pub mod metrics;
pub mod model;
pub mod output;
pub mod plan;
pub mod provider;
pub mod runner;
pub mod server;
pub mod telemetry;
pub mod tls;
