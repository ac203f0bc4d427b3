//! The shape every aggregate has: `decide` turns a command into events, `evolve` folds events.

use serde::{Serialize, de::DeserializeOwned};

use crate::event::DomainEvent;

/// A consistency boundary stored as one stream of events.
pub trait Aggregate {
    /// Stream ids of this aggregate start with this prefix and a dash (`share-<id>`).
    const STREAM_PREFIX: &'static str;
    /// Version of the serialized state; stored snapshots with another number are rebuilt.
    const STATE_SCHEMA: i32;

    /// Everything the aggregate remembers to decide the next command.
    type State: Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What a caller asks for, in the imperative.
    type Command: Send + Sync;
    /// What happened, in the past tense.
    type Event: DomainEvent;
    /// Facts the caller looked up for this decision (time, ids, policy, ...).
    type Context: Send + Sync;
    /// Why a command was refused.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Decides which events a command produces, or why it is refused. Pure.
    fn decide(
        state: &Self::State,
        command: &Self::Command,
        context: &Self::Context,
    ) -> Result<Vec<Self::Event>, Self::Error>;

    /// Applies one event to the state. Pure and total: stored events are facts.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// Folds a sequence of events from the empty state.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self::State {
        events
            .into_iter()
            .fold(Self::State::default(), |state, event| Self::evolve(state, event))
    }

    /// The stream id of the aggregate instance with this id.
    fn stream_id(id: &str) -> String {
        format!("{}-{}", Self::STREAM_PREFIX, id)
    }
}
