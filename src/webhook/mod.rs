//! The Meta edge: the GET handshake, `X-Hub-Signature-256` verification and the
//! per-provider parsers that turn payloads into [`crate::model`] events. No SQL here.

pub mod budget;
pub mod handshake;
mod json;
pub mod messenger;
pub mod parse;
pub mod signature;
pub mod whatsapp;
