//! Read-your-writes: the log position of the last command a request committed, recorded in a
//! task-local the HTTP middleware reads (`Shareledger-Position` header), so no handler has to
//! carry it. A later read passes it back as `min_position` and waits for async projections.

use std::cell::Cell;
use std::future::Future;

use crate::store::Cursor;

tokio::task_local! {
    static WRITTEN: Cell<Option<Cursor>>;
}

/// Runs `work`, returning its output and the furthest position committed while it ran.
pub async fn track<F: Future>(work: F) -> (F::Output, Option<Cursor>) {
    WRITTEN
        .scope(Cell::new(None), async move {
            let out = work.await;
            (out, WRITTEN.with(Cell::get))
        })
        .await
}

/// Notes that events up to `cursor` were committed (no-op outside `track`).
pub fn record(cursor: Cursor) {
    let _ = WRITTEN.try_with(|c| {
        if c.get().is_none_or(|old| old < cursor) {
            c.set(Some(cursor));
        }
    });
}

/// The text form of a position: `<tx_id>-<global_position>`.
pub fn format(cursor: Cursor) -> String {
    format!("{}-{}", cursor.tx_id, cursor.position)
}

/// Parses the text form.
pub fn parse(text: &str) -> Option<Cursor> {
    let (tx, position) = text.split_once('-')?;
    Some(Cursor {
        tx_id: tx.parse().ok()?,
        position: position.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_furthest_recorded_position_is_reported() {
        let ((), seen) = track(async {
            record(Cursor { tx_id: 5, position: 9 });
            record(Cursor { tx_id: 4, position: 20 });
        })
        .await;
        assert_eq!(seen, Some(Cursor { tx_id: 5, position: 9 }));
        record(Cursor::START);
        assert_eq!(parse(&format(Cursor { tx_id: 5, position: 9 })), seen);
        assert_eq!(parse("x-1"), None);
    }

    #[test]
    fn cursors_parse_back() {
        assert_eq!(
            parse("784-15"),
            Some(Cursor {
                tx_id: 784,
                position: 15
            })
        );
        assert_eq!(parse("784"), None);
        assert_eq!(parse("x-1"), None);
    }
}
