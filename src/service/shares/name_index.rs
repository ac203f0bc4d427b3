//! An in-process index of owners' share names for the search's substring (`q`, or the name
//! the search's filter requires: the compatibility API's `match`).
//!
//! PostgreSQL's trigram index answers `name ILIKE '%q%'`, but the query is planned for its
//! pattern on every call and walks posting lists shared by every name of the owner: most of a
//! search's cost. Here each owner's names, ASCII-lowercased, sit in one buffer that
//! `memchr::memmem` scans in microseconds; the shares it finds go to
//! [`my_share_links::search_among`], a prepared statement by primary key that still checks
//! every condition, the name's `ILIKE` included. So the index may find more than match, never
//! fewer:
//! - a name with anything but ASCII in it is always a candidate (PostgreSQL's case folding
//!   outside ASCII depends on the locale), and a `q` with anything but ASCII is searched by the
//!   database alone;
//! - names are kept current across instances and out-of-order commits by transaction ids: the
//!   index holds an owner's names as of a horizon (the oldest transaction running when they
//!   were read), and every search first reads the names written by transactions at or above it
//!   ([`my_share_links::names_since`], usually none). Those shares are candidates whatever
//!   their names. One search at a time merges them into a copy of the index, once they are
//!   [`MERGE_AFTER`] or the index is [`MERGE_EVERY`] old, so a stream of creates does not
//!   copy it for every search. A name committed after that read belongs to a write concurrent
//!   with the search.
//!
//! More than [`MAX_CANDIDATES`] candidates (a `q` most names contain) and the database path
//! is used, whose plan then walks the owner's newest shares. The index holds at most its
//! budget (`name_index_bytes`, [`DEFAULT_BUDGET`] unless configured; zero turns it off); the
//! owners searched least recently are dropped first, and an owner with more than half of it is
//! searched in the database alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use shareledger_projections::my_share_links::{self, BadCursor, Filter, OrderBy, Page, Search};
use sqlx::PgPool;
use uuid::Uuid;

/// Above this many candidates the database searches on its own.
pub const MAX_CANDIDATES: usize = 2048;

/// Newer names read by one search that make it merge them into the index.
const MERGE_AFTER: usize = 64;

/// How old kept names may get before a search that read newer ones merges them.
const MERGE_EVERY: Duration = Duration::from_secs(1);

/// How long an owner with more names than the index keeps is searched in the database alone
/// before the index tries again.
const TOO_MANY_FOR: Duration = Duration::from_secs(600);

/// What the index has for an owner.
enum Lookup<'a> {
    Kept(Arc<Names>),
    /// Nothing yet: this search reads the names (until dropped, others use the database).
    Build(Claim<'a>),
    /// Too many names, or another search is reading them.
    Database,
}

/// One search's right to write an owner's names into the index: to read them all, or to
/// merge newer ones into a copy. One search holds it at a time, until it is dropped.
struct Claim<'a> {
    index: &'a NameIndex,
    owner: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut owners = self.index.owners.lock().expect("name index lock");
        owners.claimed.remove(&self.owner);
    }
}

/// The most bytes the index keeps over all owners unless configured (about 80 bytes a name of
/// 20 characters).
pub const DEFAULT_BUDGET: usize = 32 << 20;

/// Owners' names, by owner.
pub struct NameIndex {
    owners: Mutex<Owners>,
    /// The most bytes kept over all owners; zero: every search in the database alone.
    budget: usize,
}

impl Default for NameIndex {
    fn default() -> Self {
        Self::new(DEFAULT_BUDGET)
    }
}

#[derive(Default)]
struct Owners {
    by_owner: HashMap<String, Entry>,
    /// Owners with more names than the index would keep, searched in the database alone
    /// until the instant given.
    too_many: HashMap<String, Instant>,
    /// Owners whose names a search is reading or merging (`Claim`).
    claimed: std::collections::HashSet<String>,
    bytes: usize,
    tick: u64,
}

struct Entry {
    names: Arc<Names>,
    used: u64,
}

/// One owner's names as of `horizon`.
#[derive(Clone)]
struct Names {
    horizon: i64,
    /// When `horizon` was read.
    read_at: Instant,
    /// Each slot's share.
    ids: Vec<Uuid>,
    /// Each slot's share's creation time, in microseconds (it never changes).
    created: Vec<i64>,
    /// `\0name\0name...\0`: each slot's name, ASCII-lowercased, empty for a name with
    /// anything but ASCII. A rename takes a new slot and zeroes the old one's name, which then
    /// matches nothing.
    text: Vec<u8>,
    /// Where each slot's name starts in `text`.
    starts: Vec<u32>,
    /// Current slots whose names are not all ASCII, in order: always candidates.
    wide: Vec<u32>,
    /// The share's current slot (the others are old names).
    slot: HashMap<Uuid, u32>,
}

impl Names {
    fn new() -> Self {
        Self {
            horizon: 0,
            read_at: Instant::now(),
            ids: Vec::new(),
            created: Vec::new(),
            text: vec![0],
            starts: Vec::new(),
            wide: Vec::new(),
            slot: HashMap::new(),
        }
    }

    /// Sets the names read by `names_since`, and the horizon it answered.
    fn apply(&mut self, read: &my_share_links::NamesSince) {
        for row in &read.names {
            if let Some(old) = self.slot.get(&row.share_id).copied() {
                self.retire(old);
            }
            let created = row.created_at.timestamp_micros();
            if row.name.is_ascii() {
                let folded: Vec<u8> = row.name.bytes().map(|b| b.to_ascii_lowercase()).collect();
                self.push(row.share_id, created, &folded, false);
            } else {
                self.push(row.share_id, created, b"", true);
            }
        }
        self.horizon = read.horizon;
        self.read_at = Instant::now();
        if self.ids.len() > 2 * self.slot.len() + 64 {
            self.compact();
        }
    }

    /// A new slot holding the share's current name.
    fn push(&mut self, id: Uuid, created: i64, folded: &[u8], wide: bool) {
        let slot = u32::try_from(self.ids.len()).expect("fewer than 2^32 names");
        self.slot.insert(id, slot);
        self.ids.push(id);
        self.created.push(created);
        self.starts
            .push(u32::try_from(self.text.len()).expect("under 4 GiB of names"));
        self.text.extend_from_slice(folded);
        self.text.push(0);
        if wide {
            self.wide.push(slot);
        }
    }

    /// The slot's name as stored.
    fn text_of(&self, slot: u32) -> std::ops::Range<usize> {
        let start = self.starts[slot as usize] as usize;
        start..start + self.text[start..].iter().position(|&b| b == 0).unwrap_or(0)
    }

    /// Makes an old name match nothing.
    fn retire(&mut self, slot: u32) {
        let name = self.text_of(slot);
        self.text[name].fill(0);
        if let Ok(i) = self.wide.binary_search(&slot) {
            self.wide.remove(i);
        }
    }

    /// Drops the slots of old names.
    fn compact(&mut self) {
        let mut fresh = Names {
            horizon: self.horizon,
            read_at: self.read_at,
            ..Names::new()
        };
        let mut current: Vec<u32> = self.slot.values().copied().collect();
        current.sort_unstable();
        for slot in current {
            let wide = self.wide.binary_search(&slot).is_ok();
            let i = slot as usize;
            fresh.push(self.ids[i], self.created[i], &self.text[self.text_of(slot)], wide);
        }
        *self = fresh;
    }

    /// The live shares whose names may contain `needle` (ASCII, lowercased), with their
    /// creation times; `None` past `max`.
    fn candidates(&self, needle: &[u8], max: usize) -> Option<Vec<(i64, Uuid)>> {
        let mut found = Vec::new();
        let mut last = None;
        for at in memchr::memmem::find_iter(&self.text, needle) {
            let slot = self.starts.partition_point(|&s| s as usize <= at) - 1;
            if last == Some(slot) {
                continue;
            }
            last = Some(slot);
            found.push((self.created[slot], self.ids[slot]));
            if found.len() > max {
                return None;
            }
        }
        found.extend(
            self.wide
                .iter()
                .map(|&slot| (self.created[slot as usize], self.ids[slot as usize])),
        );
        (found.len() <= max).then_some(found)
    }

    fn bytes(&self) -> usize {
        self.text.capacity()
            + self.ids.capacity() * 16
            + self.created.capacity() * 8
            + self.starts.capacity() * 4
            + self.wide.capacity() * 4
            + self.slot.capacity() * 24
    }
}

impl NameIndex {
    /// An empty index that keeps at most `budget` bytes (zero: none).
    pub fn new(budget: usize) -> Self {
        Self {
            owners: Mutex::default(),
            budget,
        }
    }

    /// Runs the owner's search: through the index when the name it requires (`s.q`, or else the
    /// one its filter requires: `Filter::required_name`) is ASCII and found in at most
    /// [`MAX_CANDIDATES`] shares, otherwise in the database alone.
    pub async fn search(&self, pool: &PgPool, s: &Search) -> Result<Result<Page, BadCursor>, sqlx::Error> {
        let required = s.q.as_deref().filter(|q| !q.is_empty());
        let needle = match required.or_else(|| s.filter.as_ref().and_then(Filter::required_name)) {
            None | Some("") => return my_share_links::search(pool, s).await,
            Some(q) if self.budget > 0 && q.is_ascii() && !q.contains('\0') => q.to_ascii_lowercase(),
            Some(_) => return by_database(pool, s).await,
        };
        let (known, claim) = match self.names(&s.owner_id) {
            Lookup::Kept(names) => (Some(names), None),
            Lookup::Build(claim) => (None, Some(claim)),
            Lookup::Database => return by_database(pool, s).await,
        };
        let read = my_share_links::names_since(pool, &s.owner_id, known.as_ref().map_or(0, |n| n.horizon)).await?;
        let claim = claim.or_else(|| {
            known
                .as_ref()
                .and_then(|known| self.claim_merge(&s.owner_id, known, read.names.len()))
        });
        let names = match (known, claim) {
            (Some(known), None) => known,
            (known, _claim) => {
                let mut names = known.map_or_else(Names::new, |n| (*n).clone());
                names.apply(&read);
                self.keep(&s.owner_id, names)
            }
        };
        let Some(mut among) = names.candidates(needle.as_bytes(), MAX_CANDIDATES) else {
            return by_database(pool, s).await;
        };
        metrics::counter!("shareledger_name_search_total", "path" => "index").increment(1);
        // Renamed or new since the horizon: whatever the index said of them before.
        among.extend(read.names.iter().map(|r| (r.created_at.timestamp_micros(), r.share_id)));
        among.sort_unstable();
        among.dedup();
        if let Some(first) = newest_first(s, &mut among) {
            let page = my_share_links::search_among(pool, s, first).await?;
            // A full page (and one more) from the chunk is the page: every share left out
            // comes after all of the chunk in the search's order.
            if page.as_ref().is_ok_and(|p| p.next.is_some()) {
                return Ok(page);
            }
        }
        my_share_links::search_among(pool, s, among.into_iter().map(|(_, id)| id).collect()).await
    }

    /// The horizon of the owner's kept names, if kept: every name written by a transaction
    /// below it is in the index.
    pub fn horizon(&self, owner: &str) -> Option<i64> {
        let owners = self.owners.lock().expect("name index lock");
        owners.by_owner.get(owner).map(|e| e.names.horizon)
    }

    /// The right to merge `newer` names into a copy of `known` and keep it: when there are
    /// some, `known` is still the kept one and no other search holds the owner's claim, once
    /// they are [`MERGE_AFTER`] names or `known` is [`MERGE_EVERY`] old. Until then each
    /// search takes the newer names as candidates from its own read, and `known` is not copied
    /// for every create.
    fn claim_merge(&self, owner: &str, known: &Names, newer: usize) -> Option<Claim<'_>> {
        if newer == 0 || (newer < MERGE_AFTER && known.read_at.elapsed() < MERGE_EVERY) {
            return None;
        }
        let mut owners = self.owners.lock().expect("name index lock");
        let current = owners.by_owner.get(owner)?.names.horizon == known.horizon;
        (current && owners.claimed.insert(owner.to_owned())).then(|| Claim {
            index: self,
            owner: owner.to_owned(),
        })
    }

    /// The owner's names if kept; if not, the right to read them, which one search at a time
    /// holds (the others search in the database meanwhile, rather than each reading every
    /// name at once).
    fn names(&self, owner: &str) -> Lookup<'_> {
        let mut owners = self.owners.lock().expect("name index lock");
        if owners.too_many.get(owner).is_some_and(|until| *until > Instant::now()) {
            return Lookup::Database;
        }
        owners.tick += 1;
        let tick = owners.tick;
        let Some(entry) = owners.by_owner.get_mut(owner) else {
            if !owners.claimed.insert(owner.to_owned()) {
                return Lookup::Database;
            }
            return Lookup::Build(Claim {
                index: self,
                owner: owner.to_owned(),
            });
        };
        entry.used = tick;
        Lookup::Kept(entry.names.clone())
    }

    /// Keeps the owner's names unless a newer read is kept already, and drops the owners
    /// used least recently while over the budget.
    fn keep(&self, owner: &str, names: Names) -> Arc<Names> {
        let names = Arc::new(names);
        let size = names.bytes();
        let mut owners = self.owners.lock().expect("name index lock");
        if size > self.budget / 2 {
            if let Some(gone) = owners.by_owner.remove(owner) {
                owners.bytes -= gone.names.bytes();
            }
            owners.too_many.retain(|_, until| *until > Instant::now());
            owners.too_many.insert(owner.to_owned(), Instant::now() + TOO_MANY_FOR);
            owners.report();
            return names;
        }
        owners.tick += 1;
        let tick = owners.tick;
        let replaced = match owners.by_owner.get(owner) {
            Some(entry) if entry.names.horizon > names.horizon => return names,
            Some(entry) => entry.names.bytes(),
            None => 0,
        };
        owners.by_owner.insert(
            owner.to_owned(),
            Entry {
                names: names.clone(),
                used: tick,
            },
        );
        owners.bytes = owners.bytes - replaced + size;
        while owners.bytes > self.budget {
            let Some(oldest) = owners
                .by_owner
                .iter()
                .filter(|(o, _)| o.as_str() != owner)
                .min_by_key(|(_, e)| e.used)
                .map(|(o, _)| o.clone())
            else {
                break;
            };
            if let Some(gone) = owners.by_owner.remove(&oldest) {
                owners.bytes -= gone.names.bytes();
            }
        }
        owners.report();
        names
    }
}

impl Owners {
    /// The index's size, as metrics.
    fn report(&self) {
        metrics::gauge!("shareledger_name_index_bytes").set(self.bytes as f64);
        metrics::gauge!("shareledger_name_index_owners").set(self.by_owner.len() as f64);
    }
}

/// The search in the database alone, counted as such.
async fn by_database(pool: &PgPool, s: &Search) -> Result<Result<Page, BadCursor>, sqlx::Error> {
    metrics::counter!("shareledger_name_search_total", "path" => "database").increment(1);
    my_share_links::search(pool, s).await
}

/// How many candidates, in the page's order, are tried before all of them.
fn chunk(limit: u32) -> usize {
    (2 * (limit as usize + 1)).max(64)
}

/// For a search in creation order with more candidates than a chunk: the first chunk of them in
/// the search's order past its cursor, and `among` reduced to those past the cursor. A share
/// created on the same microsecond as another orders by id, as in the database (both compare
/// the 16 bytes of a UUID in order).
fn newest_first(s: &Search, among: &mut Vec<(i64, Uuid)>) -> Option<Vec<Uuid>> {
    if s.order_by != OrderBy::Created || among.len() <= chunk(s.limit) {
        return None;
    }
    if s.descending {
        among.reverse();
    }
    if let Some(cursor) = &s.after {
        let at = cursor.key.parse::<DateTime<Utc>>().ok()?.timestamp_micros();
        let past = |c: &(i64, Uuid)| {
            if s.descending {
                *c < (at, cursor.id)
            } else {
                *c > (at, cursor.id)
            }
        };
        among.retain(past);
    }
    (among.len() > chunk(s.limit)).then(|| among.iter().take(chunk(s.limit)).map(|(_, id)| *id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(horizon: i64, names: &[(u128, &str)]) -> my_share_links::NamesSince {
        my_share_links::NamesSince {
            horizon,
            names: names
                .iter()
                .map(|(id, n)| my_share_links::NameRow {
                    share_id: Uuid::from_u128(*id),
                    name: (*n).to_owned(),
                    created_at: DateTime::from_timestamp_micros(*id as i64).unwrap(),
                })
                .collect(),
        }
    }

    fn found(names: &Names, q: &str) -> Vec<u128> {
        let mut ids: Vec<u128> = names
            .candidates(q.to_ascii_lowercase().as_bytes(), MAX_CANDIDATES)
            .unwrap()
            .into_iter()
            .map(|(_, id)| id.as_u128())
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn finds_substrings_case_insensitively_within_one_name_and_always_offers_wide_names() {
        let mut names = Names::new();
        names.apply(&read(
            5,
            &[
                (1, "Quarterly Report"),
                (2, "photo_1.JPG"),
                (3, "季度 report"),
                (4, "rep"),
            ],
        ));
        assert_eq!(found(&names, "REPORT"), vec![1, 3]);
        assert_eq!(found(&names, "o_1.j"), vec![2, 3]);
        // Never across two names: "rep" + "ort" of the next name is not a match.
        assert_eq!(found(&names, "reportrep"), vec![3]);
        assert_eq!(found(&names, "e"), vec![1, 3, 4]);
    }

    #[test]
    fn a_rename_replaces_the_old_name_and_compacting_keeps_every_current_one() {
        let mut names = Names::new();
        names.apply(&read(5, &[(1, "alpha"), (2, "beta"), (3, "Ünïcode")]));
        names.apply(&read(9, &[(1, "gamma")]));
        assert_eq!(found(&names, "alpha"), vec![3]);
        assert_eq!(found(&names, "gam"), vec![1, 3]);
        assert_eq!(names.horizon, 9);
        for round in 0..200 {
            names.apply(&read(10 + round, &[(2, if round % 2 == 0 { "delta" } else { "beta" })]));
        }
        assert!(names.ids.len() < 3 * 3 + 64, "compacted: {} slots", names.ids.len());
        assert_eq!(found(&names, "beta"), vec![2, 3]);
        assert_eq!(found(&names, "gamma"), vec![1, 3]);
        assert_eq!(found(&names, "delta"), vec![3]);
    }

    #[test]
    fn too_many_candidates_is_none() {
        let mut names = Names::new();
        let many: Vec<(u128, String)> = (0..10u128).map(|i| (i, format!("share {i}"))).collect();
        let refs: Vec<(u128, &str)> = many.iter().map(|(i, n)| (*i, n.as_str())).collect();
        names.apply(&read(1, &refs));
        assert_eq!(names.candidates(b"share", 10).map(|v| v.len()), Some(10));
        assert_eq!(names.candidates(b"share", 9), None);
    }

    #[test]
    fn the_budget_drops_the_owners_searched_least_recently_and_leaves_one_over_half_to_the_database() {
        let owner = |first: u128| {
            let mut names = Names::new();
            names.apply(&read(1, &[(first, "Quarterly Report"), (first + 1, "photo_1.JPG")]));
            names
        };
        let size = owner(1).bytes();
        assert_eq!(owner(10).bytes(), size);
        // Room for two owners.
        let index = NameIndex::new(2 * size + size / 2);
        index.keep("a", owner(1));
        index.keep("b", owner(10));
        assert!(matches!(index.names("a"), Lookup::Kept(_)), "a searched after b");
        index.keep("c", owner(20));
        assert_eq!(index.horizon("b"), None, "b, searched least recently, is dropped");
        assert!(index.horizon("a").is_some() && index.horizon("c").is_some());
        assert_eq!(index.owners.lock().unwrap().bytes, 2 * size);
        // An owner with more than half of the budget is searched in the database alone.
        let small = NameIndex::new(2 * size - 1);
        small.keep("a", owner(1));
        assert_eq!(small.horizon("a"), None);
        assert!(matches!(small.names("a"), Lookup::Database));
        // No budget: nothing is kept.
        let none = NameIndex::new(0);
        none.keep("a", owner(1));
        assert_eq!(none.horizon("a"), None);
    }
}
