//! siptrunk-operator: keeps SIP trunks on voice-AI platforms equal to `SipTrunk` objects.
//!
//! Layout: `crd` (API types), `model` (provider wire types, matching and diffing, no I/O),
//! `provider` (HTTP clients), `controller` (reconcile pipeline), `emulator` (provider stand-in),
//! `kubeemu` (Kubernetes API stand-in), `demo` (everything in one process).

pub mod crd;
pub mod emulator;
