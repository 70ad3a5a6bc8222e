//! The plugin `simple_scheduler.jobs.sample_job`: the job that ndscheduler's examples
//! name (`simple_scheduler.jobs.sample_job.AwesomeJob`), so its quick start works
//! verbatim on wasmcron.

use wasmcron_sdk::serde_json::{Value, json};
use wasmcron_sdk::{Argument, Context, Job, Result, info};

/// Logs its arguments and returns them unchanged.
struct AwesomeJob;

impl Job for AwesomeJob {
    const NAME: &'static str = "AwesomeJob";
    const NOTES: &'static str =
        "Logs its arguments and returns them unchanged: a first job to schedule.";
    type Args = Value;
    type Output = Value;

    fn arguments() -> Vec<Argument> {
        vec![
            Argument::new("argument1", "string", "First argument"),
            Argument::new("argument2", "string", "Second argument"),
        ]
    }

    fn example_arguments() -> Value {
        json!(["first argument AAA", "second argument BBB"])
    }

    fn run(_ctx: &Context, args: Value) -> Result<Value> {
        info!("AwesomeJob ran with arguments {args}");
        Ok(args)
    }
}

wasmcron_sdk::export_jobs!(AwesomeJob);
