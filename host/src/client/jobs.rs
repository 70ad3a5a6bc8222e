//! `wasmcron job list|show|add|edit|pause|resume|run|rm`: the jobs of a running server.

use super::job_body::{JobFields, editable};
use super::table::{Table, cell};
use super::words;
use super::{Api, ServerArg, exit_code, follow, print_json, segment};
use crate::cli::outln;
use anyhow::bail;
use reqwest::Method;
use serde_json::{Map, Value};

/// `wasmcron job …`.
#[derive(Debug, clap::Args)]
pub struct JobArgs {
    #[command(subcommand)]
    command: JobCommand,
    /// Print the API's JSON instead of tables and sentences.
    #[arg(long, global = true, display_order = 100)]
    json: bool,
    #[command(flatten)]
    server: ServerArg,
}

/// The `job` subcommands.
#[derive(Debug, clap::Subcommand)]
enum JobCommand {
    /// List the jobs: schedule, next run, state.
    List,
    /// Show one job: its definition, options and next fire times.
    Show { job_id: String },
    /// Create a job and print its id.
    Add {
        #[command(flatten)]
        fields: JobFields,
    },
    /// Change a job: what is given changes, the rest stays.
    Edit {
        job_id: String,
        #[command(flatten)]
        fields: JobFields,
    },
    /// Stop a job's schedule (a run now still works).
    Pause { job_id: String },
    /// Start a paused job's schedule again, from now.
    Resume { job_id: String },
    /// Run a job now and print the execution id; with --follow, follow the run to its
    /// end and exit with its outcome (0 succeeded, 1 any other end, 2 no answer).
    Run {
        job_id: String,
        /// Show the run's progress and log lines live, then its result.
        #[arg(long)]
        follow: bool,
    },
    /// Delete a job (its executions stay).
    Rm { job_id: String },
}

/// Runs a `job` subcommand. Returns the exit code: 0 done, 1 refused by the server (2
/// when following a run, whose 1 means the run did not succeed).
pub async fn run(args: JobArgs) -> anyhow::Result<i32> {
    let api = Api::new(&args.server.url, args.server.token.as_deref())?;
    let refused_code = match args.command {
        JobCommand::Run { follow: true, .. } => follow::NO_OUTCOME,
        _ => 1,
    };
    exit_code(command(&api, args.command, args.json).await, refused_code)
}

async fn command(api: &Api, command: JobCommand, json: bool) -> anyhow::Result<i32> {
    match command {
        JobCommand::List => {
            let answer = api.get("/api/v1/jobs").await?;
            if json {
                print_json(&answer);
            } else {
                outln!("{}", job_table(&answer["jobs"]));
            }
        }
        JobCommand::Show { job_id } => {
            let path = format!("/api/v1/jobs/{}", segment(&job_id));
            let job = api.get(&path).await?;
            if json {
                print_json(&job);
            } else {
                // The next fire times are an extra; a job the server cannot compute them
                // for (a damaged one) is still shown.
                let next = api.get(&format!("{path}/next-runs?count=3")).await.ok();
                show_job(&job, next.as_ref());
            }
        }
        JobCommand::Add { fields } => {
            let base = fields.file_body()?.unwrap_or_default();
            if base.is_empty() && !fields.changes_anything() {
                bail!("give the job: --name, --class and a schedule, or --file");
            }
            let body = Value::Object(fields.apply(base)?);
            let answer = api.send_json(Method::POST, "/api/v1/jobs", &body).await?;
            if json {
                print_json(&answer);
            } else {
                // The bare id, so that `id=$(wasmcron job add …)` works.
                outln!("{}", answer["job_id"].as_str().unwrap_or_default());
            }
        }
        JobCommand::Edit { job_id, fields } => {
            let path = format!("/api/v1/jobs/{}", segment(&job_id));
            let base = match fields.file_body()? {
                Some(body) => body,
                None if fields.changes_anything() => editable(api.get(&path).await?),
                None => bail!("nothing to change: give the options to change, or --file"),
            };
            let body = Value::Object(fields.apply(base)?);
            let answer = api.send_json(Method::PUT, &path, &body).await?;
            done(json, &answer, &format!("job {job_id} changed"));
        }
        JobCommand::Pause { job_id } => {
            let answer = api
                .post(&format!("/api/v1/jobs/{}/pause", segment(&job_id)))
                .await?;
            done(json, &answer, &format!("job {job_id} paused"));
        }
        JobCommand::Resume { job_id } => {
            let answer = api
                .post(&format!("/api/v1/jobs/{}/resume", segment(&job_id)))
                .await?;
            done(json, &answer, &format!("job {job_id} resumed"));
        }
        JobCommand::Run { job_id, follow } => {
            let answer = api
                .post(&format!("/api/v1/executions/{}", segment(&job_id)))
                .await?;
            let Some(execution_id) = answer["execution_id"].as_str() else {
                bail!("the server's answer has no execution_id: {answer}");
            };
            if follow {
                return follow::follow(api, execution_id, json).await;
            }
            if json {
                print_json(&answer);
            } else {
                outln!("{execution_id}");
            }
        }
        JobCommand::Rm { job_id } => {
            let answer = api
                .delete(&format!("/api/v1/jobs/{}", segment(&job_id)))
                .await?;
            done(json, &answer, &format!("job {job_id} deleted"));
        }
    }
    Ok(0)
}

/// Prints the API's answer with `--json`, else a sentence.
fn done(json: bool, answer: &Value, sentence: &str) {
    if json {
        print_json(answer);
    } else {
        outln!("{sentence}");
    }
}

/// The job list as a table, in the API's order (next run first).
fn job_table(jobs: &Value) -> String {
    let mut table = Table::new(&[
        "JOB_ID",
        "NAME",
        "SCHEDULE",
        "NEXT RUN (UTC)",
        "STATE",
        "CLASS",
    ]);
    for job in jobs.as_array().into_iter().flatten() {
        table.row(vec![
            text(&job["job_id"]),
            cell(&text(&job["name"]), 40),
            words::schedule(job),
            words::time_of(&job["next_run_time"]),
            text(&job["state"]),
            text(&job["job_class_string"]),
        ]);
    }
    table.render()
}

/// The keys of the job JSON that are ndscheduler's (or shown above the options).
const BASE_KEYS: [&str; 14] = [
    "job_id",
    "name",
    "next_run_time",
    "job_class_string",
    "pub_args",
    "trigger",
    "trigger_params",
    "month",
    "day",
    "week",
    "day_of_week",
    "hour",
    "minute",
    "state",
];

fn show_job(job: &Value, next_runs: Option<&Value>) {
    outln!("job_id:    {}", text(&job["job_id"]));
    outln!("name:      {}", text(&job["name"]));
    outln!("class:     {}", text(&job["job_class_string"]));
    outln!("args:      {}", job["pub_args"]);
    outln!("schedule:  {}", words::schedule(job));
    outln!("state:     {}", text(&job["state"]));
    outln!("next run:  {}", words::time_utc(&job["next_run_time"]));
    let options: Map<String, Value> = job
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| !BASE_KEYS.contains(&key.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !options.is_empty() {
        outln!("options:");
        for (key, value) in &options {
            outln!("  {key}: {}", text(value));
        }
    }
    let runs = next_runs.and_then(|n| n["next_runs"].as_array());
    if let Some(runs) = runs.filter(|r| !r.is_empty()) {
        outln!("next runs:");
        for run in runs {
            outln!("  {}", text(&run["local"]));
        }
    }
}

/// A JSON value as text: a string without its quotes, anything else as JSON.
pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_job_table_reads_in_words() {
        let jobs = json!([
            {"job_id": "aaaa", "name": "every five", "next_run_time": "2026-11-28T16:25:00+00:00",
             "job_class_string": "p.Echo", "trigger": "interval", "trigger_params": {"interval": 300},
             "state": "active"},
            {"job_id": "bbbb", "name": "nightly", "next_run_time": "",
             "job_class_string": "p.Report", "trigger": "cron",
             "trigger_params": {"minute": "0", "hour": "3", "day": "*", "month": "*", "day_of_week": "*"},
             "timezone": "Europe/Berlin", "state": "paused"}
        ]);
        assert_eq!(
            job_table(&jobs),
            "JOB_ID  NAME        SCHEDULE                      NEXT RUN (UTC)       STATE   CLASS\n\
             aaaa    every five  every 5 minutes               2026-11-28 16:25:00  active  p.Echo\n\
             bbbb    nightly     cron 0 3 * * * Europe/Berlin  -                    paused  p.Report"
        );
    }
}
