//! A plugin whose `describe()` traps: the host must refuse to install it, with a
//! message, and keep serving. Built by `make plugins` into `target/test-plugins/`, not
//! beside the example plugins (a server started on that folder would refuse to start).

use wasmcron_sdk::serde_json::Value;
use wasmcron_sdk::{Argument, Context, Job, Result};

struct Broken;

impl Job for Broken {
    const NAME: &'static str = "Broken";
    const NOTES: &'static str = "Cannot even describe itself.";
    type Args = Value;
    type Output = Value;

    fn arguments() -> Vec<Argument> {
        panic!("describe() of this plugin always fails")
    }

    fn run(_ctx: &Context, args: Value) -> Result<Value> {
        Ok(args)
    }
}

wasmcron_sdk::export_jobs!(Broken);
