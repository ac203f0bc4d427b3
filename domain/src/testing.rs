//! Given/when/then for aggregates: `given([events]).when(command, context).then([events])`.
//! Runs in memory; no database.

use std::fmt::Debug;

use crate::aggregate::Aggregate;

/// Starts a scenario from the events already in the stream.
pub fn given<A: Aggregate>(events: impl IntoIterator<Item = A::Event>) -> Given<A> {
    let history: Vec<A::Event> = events.into_iter().collect();
    Given {
        state: A::replay(history.iter()),
    }
}

/// A stream's history, folded into state.
pub struct Given<A: Aggregate> {
    state: A::State,
}

impl<A: Aggregate> Given<A> {
    /// Decides `command` against the history.
    pub fn when(self, command: A::Command, context: &A::Context) -> When<A> {
        let outcome = A::decide(&self.state, &command, context);
        When {
            state: self.state,
            outcome,
        }
    }

    /// The folded state, for assertions on `evolve`.
    pub fn state(&self) -> &A::State {
        &self.state
    }
}

/// The outcome of one decision.
pub struct When<A: Aggregate> {
    state: A::State,
    outcome: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> When<A>
where
    A::Event: PartialEq + Debug,
    A::Error: Debug,
{
    /// Asserts the command produced exactly these events; returns the state after them.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = A::Event>) -> A::State {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match self.outcome {
            Ok(events) => {
                assert_eq!(events, expected, "the command produced other events");
                events.iter().fold(self.state, |s, e| A::evolve(s, e))
            }
            Err(e) => panic!("expected events {expected:?}, the command was refused: {e:?}"),
        }
    }

    /// Asserts the command was refused with an error matching `check`.
    #[track_caller]
    pub fn then_err(self, check: impl FnOnce(&A::Error) -> bool) {
        match self.outcome {
            Ok(events) => panic!("expected a refusal, the command produced {events:?}"),
            Err(e) => assert!(check(&e), "refused for another reason: {e:?}"),
        }
    }

    /// The raw outcome, for assertions the helpers above do not cover.
    pub fn outcome(self) -> Result<Vec<A::Event>, A::Error> {
        self.outcome
    }
}

/// Asserts every event survives being stored and loaded: same type name, same value, whether
/// it is decoded from the payload's tree or from its text (as read from the database).
#[track_caller]
pub fn assert_round_trips<E: crate::DomainEvent + PartialEq + Debug>(events: &[E]) {
    for event in events {
        let payload = event.to_payload();
        let text = crate::json::LazyJson::from_text(&payload.to_string()).expect("a payload is JSON");
        for stored in [crate::json::LazyJson::from(payload.clone()), text] {
            let back = E::from_stored(event.event_type(), event.schema_version(), &stored)
                .unwrap_or_else(|e| panic!("{} does not decode from {payload}: {e}", event.event_type()));
            assert_eq!(&back, event);
        }
    }
}
