//! Reading the log. The readers live with the projections (their main users) in
//! `shareledger_projections::log`; the store re-exports them.

pub use shareledger_projections::log::{
    LogError, decode_event, events_by_id, read_all, read_all_committed, read_stream, read_stream_until, stream_all,
    stream_head, to_hash, visible_head,
};
