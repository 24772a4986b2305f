//! Tools around tapstack. `tapstack-plot` (the launcher's `tapstack plot`) turns the events of
//! `TAPSTACK_TRACE=events` into time-sequence graphs.
pub mod events;
pub mod plot;
