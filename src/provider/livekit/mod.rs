//! The LiveKit SIP family: wire types from livekit/protocol (`wire`), access tokens (`auth`), the
//! Twirp transport (`twirp`) and the trunk/dispatch-rule operations (`client`). Not wired
//! into the controller yet: `model` (trunk translation, marker in metadata, partial updates) and
//! `dispatch` (dispatch rules) are the pure side the family implementation will use.

pub mod auth;
pub mod client;
pub mod dispatch;
pub mod model;
pub mod twirp;
pub mod wire;

pub use client::{Client, TrunkScope};
pub use twirp::Config;
