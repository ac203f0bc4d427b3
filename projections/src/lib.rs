//! Projections of the shareledger event log: read models built from events, and their runner.
//! (Handlers arrive with the owner-side and projection issues.)
