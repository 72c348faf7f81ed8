//! siptrunk-operator: keeps SIP trunks on voice-AI platforms equal to `SipTrunk` objects.
//!
//! Layout: `crd` (API types), `model` (family-neutral trunk traits, matching and the decision,
//! no I/O), `provider` (one folder per API family implementing `provider::Family`: wire types,
//! translation, validation, diff, HTTP client), `controller` (reconcile pipeline, generic over
//! the family below the account), `runner` (wiring of one
//! controller instance), `leader` (Lease election), `server` (metrics and health endpoints),
//! `emulator` (provider stand-in), `kubeemu` (Kubernetes API stand-in), `demo` (everything in
//! one process), `plan` (what the operator would do for YAML files, read-only), `redact`
//! (secrets out of every text that leaves the process, below controller and provider).
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
pub mod redact;
pub mod runner;
pub mod server;
pub mod telemetry;
pub mod tls;
