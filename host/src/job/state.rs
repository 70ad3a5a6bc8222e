//! The states of an execution, as stored and as the API shows them.

use std::fmt;

/// Where an execution is in its life. The first three are unfinished; the rest are
/// final (an execution never leaves a final state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionState {
    /// Written, waiting for its time or a slot.
    Scheduled,
    /// The guest is running.
    Running,
    /// A user cancelled it; the guest is being interrupted.
    Stopping,
    /// Cancelled by a user and stopped.
    Stopped,
    /// The job returned an error, trapped, ran out of memory, or the host failed it.
    Failed,
    /// The job returned a result.
    Succeeded,
    /// The run passed its time limit.
    Timeout,
    /// The run could not start (unknown class, unusable plugin or settings).
    ScheduledError,
    /// A fire that did not run because of the job's concurrency settings.
    Skipped,
    /// A fire that did not run because it was later than the misfire grace time.
    Missed,
}

impl ExecutionState {
    /// Every state, in the order the API documents them.
    pub const ALL: [ExecutionState; 10] = [
        ExecutionState::Scheduled,
        ExecutionState::Running,
        ExecutionState::Stopping,
        ExecutionState::Stopped,
        ExecutionState::Failed,
        ExecutionState::Succeeded,
        ExecutionState::Timeout,
        ExecutionState::ScheduledError,
        ExecutionState::Skipped,
        ExecutionState::Missed,
    ];

    /// The states that are not final: the one place that lists them.
    pub const UNFINISHED: [ExecutionState; 3] = [
        ExecutionState::Scheduled,
        ExecutionState::Running,
        ExecutionState::Stopping,
    ];

    /// The stored and wire name (ndscheduler's, plus `skipped` and `missed`).
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionState::Scheduled => "scheduled",
            ExecutionState::Running => "running",
            ExecutionState::Stopping => "stopping",
            ExecutionState::Stopped => "stopped",
            ExecutionState::Failed => "failed",
            ExecutionState::Succeeded => "succeeded",
            ExecutionState::Timeout => "timeout",
            ExecutionState::ScheduledError => "scheduled error",
            ExecutionState::Skipped => "skipped",
            ExecutionState::Missed => "missed",
        }
    }

    /// The state named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// True once the execution can no longer change.
    pub fn is_final(self) -> bool {
        !Self::UNFINISHED.contains(&self)
    }
}

impl fmt::Display for ExecutionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an execution was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// A fire of the job's trigger.
    Scheduled,
    /// A user's run-now.
    RunNow,
}

impl RunKind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Scheduled => "scheduled",
            RunKind::RunNow => "run_now",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_three_states_are_unfinished() {
        for state in ExecutionState::ALL {
            assert_eq!(ExecutionState::parse(state.as_str()), Some(state));
        }
        assert_eq!(
            ExecutionState::parse("scheduled error"),
            Some(ExecutionState::ScheduledError)
        );
        assert_eq!(ExecutionState::parse("done"), None);
        let unfinished: Vec<_> = ExecutionState::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .collect();
        assert_eq!(unfinished, ExecutionState::UNFINISHED);
    }
}
