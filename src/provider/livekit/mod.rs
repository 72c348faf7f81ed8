//! The LiveKit SIP family: wire types from livekit/protocol (`wire`), access tokens (`auth`), the
//! Twirp transport (`twirp`) and the trunk/dispatch-rule operations (`client`). Not yet wired
//! into the controller: that waits for the provider-family trait (issue 13).

pub mod auth;
pub mod client;
pub mod twirp;
pub mod wire;

pub use client::{Client, TrunkScope};
pub use twirp::Config;
