//! Shares for their owners: create, change, cancel (one or many), QR codes, details, search,
//! link and history.

mod commands;
pub mod dto;
pub mod name_index;
mod queries;
mod view;

pub use commands::{IssuedQr, bulk_cancel, cancel, change, create, issue_qr};
pub use queries::{ListParams, details, history, link, list};
