//! The LiveKit SIP family: wire types from livekit/protocol (`wire`), access tokens (`auth`), the
//! Twirp protocol over the account's shared HTTP client (`twirp`), the trunk/dispatch-rule
//! operations (`client`), the pure translation and partial updates (`model`), the family
//! implementation the controller uses (`family`), and the pure dispatch-rule side (`dispatch`,
//! which `controller::dispatch` drives).

pub mod auth;
pub mod client;
pub mod dispatch;
pub mod family;
pub mod model;
pub mod twirp;
pub mod wire;

pub use client::{Client, TrunkScope};
pub use family::LivekitFamily;
pub use twirp::Config;
