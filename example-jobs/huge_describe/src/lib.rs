//! A plugin whose `describe()` lists more than the host accepts: 1,001 classes, one of
//! them with 70 KiB of notes, 101 arguments documented in about 90 KiB, and 110 KiB of
//! example arguments. The host must refuse it with a 400 naming the limit it passes
//! first, and take it once every limit is raised. Built by `make plugins` into
//! `target/test-plugins/`, like `broken_describe`.
//!
//! It implements the world's `Guest` itself, because the SDK's `export_jobs!` lists
//! classes known at compile time.

use wasmcron_sdk::bindings::Guest;
use wasmcron_sdk::bindings::wasmcron::job::types::{Argument, Context, JobClass};

/// Classes besides `Huge`.
const SMALL_CLASSES: usize = 1000;

struct HugeDescribe;

impl Guest for HugeDescribe {
    fn describe() -> Vec<JobClass> {
        let mut classes: Vec<JobClass> = (0..SMALL_CLASSES)
            .map(|i| JobClass {
                name: format!("Small{i}"),
                notes: "Returns its arguments.".to_owned(),
                arguments: Vec::new(),
                example_arguments: "[]".to_owned(),
                arguments_schema: None,
            })
            .collect();
        classes.push(JobClass {
            name: "Huge".to_owned(),
            notes: "n".repeat(70 << 10),
            arguments: (0..101)
                .map(|i| Argument {
                    name: format!("arg{i}"),
                    type_: "string".to_owned(),
                    description: "d".repeat(900),
                })
                .collect(),
            example_arguments: format!("[\"{}\"]", "e".repeat(110 << 10)),
            arguments_schema: None,
        });
        classes
    }

    fn run(_ctx: Context, _class: String, args: String) -> Result<String, String> {
        Ok(args)
    }
}

wasmcron_sdk::bindings::__export_job_world!(HugeDescribe with_types_in wasmcron_sdk::bindings);
