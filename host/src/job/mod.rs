//! The job domain, without I/O: what a job is (its definition, schedule and options)
//! and the states of its executions. Nothing here knows HTTP, SQL or wasmtime.

mod state;

pub use state::ExecutionState;
