//! `wasmcron exec list|show|logs|cancel`: the executions (runs) of a running server.

use super::jobs::text;
use super::table::{Table, cell};
use super::words;
use super::{Api, ServerArg, exit_code, follow, print_json, segment};
use crate::cli::outln;
use serde_json::{Value, json};

/// `wasmcron exec …`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    #[command(subcommand)]
    command: ExecCommand,
    /// Print the API's JSON instead of tables and sentences.
    #[arg(long, global = true, display_order = 100)]
    json: bool,
    #[command(flatten)]
    server: ServerArg,
}

/// The `exec` subcommands.
#[derive(Debug, clap::Subcommand)]
enum ExecCommand {
    /// List executions, newest change first.
    List {
        /// Only this job's executions.
        #[arg(long = "job", value_name = "JOB_ID")]
        job_id: Option<String>,
        /// Only executions in this state (`failed`, `running`, `"scheduled error"` …).
        #[arg(long)]
        state: Option<String>,
        /// Only executions scheduled at or after this time (RFC 3339, or a date).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only executions scheduled at or before this time.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// At most this many (1 to 10000).
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: u32,
        /// The next page: the cursor the previous page printed.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one execution: state, times, result.
    Show {
        execution_id: String,
        /// Follow it live until it ends, and exit with its outcome (0 succeeded, 1 any
        /// other end, 2 no answer).
        #[arg(long)]
        follow: bool,
    },
    /// Print an execution's log lines with their levels, then its stdout and stderr.
    Logs { execution_id: String },
    /// Cancel a scheduled or running execution.
    Cancel { execution_id: String },
}

/// Runs an `exec` subcommand. Returns the exit code: 0 done, 1 refused by the server (2
/// when following a run, whose 1 means the run did not succeed).
pub async fn run(args: ExecArgs) -> anyhow::Result<i32> {
    let api = Api::new(&args.server.url, args.server.token.as_deref())?;
    let refused_code = match args.command {
        ExecCommand::Show { follow: true, .. } => follow::NO_OUTCOME,
        _ => 1,
    };
    exit_code(command(&api, args.command, args.json).await, refused_code)
}

async fn command(api: &Api, command: ExecCommand, json: bool) -> anyhow::Result<i32> {
    match command {
        ExecCommand::List {
            job_id,
            state,
            since,
            until,
            limit,
            cursor,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            let filters = [
                ("job_id", job_id),
                ("state", state),
                ("time_range_start", since),
                ("time_range_end", until),
                ("cursor", cursor),
            ];
            query.extend(filters.into_iter().filter_map(|(k, v)| Some((k, v?))));
            let request = api
                .request(reqwest::Method::GET, "/api/v1/executions")
                .query(&query);
            let answer = api.call(request).await?;
            if json {
                print_json(&answer);
            } else {
                outln!("{}", execution_table(&answer["executions"]));
                if let Some(next) = answer["next_cursor"].as_str() {
                    eprintln!("more: pass --cursor {next}");
                }
            }
        }
        ExecCommand::Show {
            execution_id,
            follow,
        } => {
            if follow {
                return follow::follow(api, &execution_id, json).await;
            }
            let execution = get(api, &execution_id).await?;
            if json {
                print_json(&execution);
            } else {
                show_execution(&execution);
            }
        }
        ExecCommand::Logs { execution_id } => {
            let execution = get(api, &execution_id).await?;
            if json {
                print_json(&json!({
                    "execution_id": execution["execution_id"],
                    "logs": execution["logs"],
                    "stdout": execution["stdout"],
                    "stderr": execution["stderr"],
                }));
            } else {
                print_logs(&execution);
            }
        }
        ExecCommand::Cancel { execution_id } => {
            let answer = api
                .delete(&format!("/api/v1/executions/{}", segment(&execution_id)))
                .await?;
            if json {
                print_json(&answer);
            } else {
                outln!("execution {execution_id}: cancel asked for");
            }
        }
    }
    Ok(0)
}

pub(super) async fn get(api: &Api, execution_id: &str) -> anyhow::Result<Value> {
    api.get(&format!("/api/v1/executions/{}", segment(execution_id)))
        .await
}

fn execution_table(executions: &Value) -> String {
    let mut table = Table::new(&[
        "EXECUTION_ID",
        "JOB",
        "STATE",
        "SCHEDULED (UTC)",
        "DURATION",
        "RESULT",
    ]);
    for e in executions.as_array().into_iter().flatten() {
        let job = match e["job"]["name"].as_str() {
            Some(name) => cell(name, 30),
            None => text(&e["job_id"]),
        };
        table.row(vec![
            text(&e["execution_id"]),
            job,
            text(&e["state"]),
            words::time_of(&e["scheduled_time"]),
            e["duration_ms"]
                .as_f64()
                .map_or("-".to_owned(), words::duration_ms),
            cell(&one_line(e["result"].as_str().unwrap_or("")), 60),
        ]);
    }
    table.render()
}

/// A result on one line: JSON compacted (results are pretty-printed), other text as
/// it is.
fn one_line(result: &str) -> String {
    match serde_json::from_str::<Value>(result) {
        Ok(json) => json.to_string(),
        Err(_) => result.to_owned(),
    }
}

fn show_execution(e: &Value) {
    outln!("execution_id:  {}", text(&e["execution_id"]));
    match e["job"]["name"].as_str() {
        Some(name) => outln!("job:           {name} ({})", text(&e["job_id"])),
        None => outln!("job:           {} (deleted)", text(&e["job_id"])),
    }
    let state = text(&e["state"]);
    // A code says why; where it ran (ndscheduler's default) does not.
    match e["description"]
        .as_str()
        .filter(|d| !d.starts_with("hostname: "))
    {
        Some(why) => outln!("state:         {state} ({why})"),
        None => outln!("state:         {state}"),
    }
    let mut kind = text(&e["run_kind"]);
    if let Some(attempt) = e["attempt"].as_u64().filter(|a| *a > 1) {
        kind.push_str(&format!(
            ", attempt {attempt} (retry of {})",
            text(&e["retry_of"])
        ));
    }
    outln!("run:           {kind}");
    outln!("scheduled:     {}", words::time_utc(&e["scheduled_time"]));
    outln!("started:       {}", words::time_utc(&e["started_time"]));
    outln!("finished:      {}", words::time_utc(&e["finished_time"]));
    if let Some(ms) = e["duration_ms"].as_f64() {
        outln!("duration:      {}", words::duration_ms(ms));
    }
    if let Some(peak) = e["peak_memory_bytes"].as_u64() {
        outln!("peak memory:   {}", words::bytes(peak));
    }
    if let Some(fuel) = e["fuel_consumed"].as_u64() {
        outln!("fuel:          {fuel}");
    }
    let logs = e["logs"].as_array().map_or(0, Vec::len);
    let output = ["stdout", "stderr"]
        .iter()
        .map(|s| e[*s].as_str().map_or(0, str::len))
        .sum::<usize>();
    if logs > 0 || output > 0 {
        outln!(
            "logs:          {logs} line(s), {output} byte(s) of output: wasmcron exec logs {}",
            text(&e["execution_id"])
        );
    }
    match e["result"].as_str() {
        Some(result) => outln!("result:\n{}", indent(result)),
        None => outln!("result:        -"),
    }
}

/// The log lines as `[level] message`, then the output streams when not empty.
fn print_logs(e: &Value) {
    for line in e["logs"].as_array().into_iter().flatten() {
        outln!("{}", log_line(line));
    }
    for stream in ["stdout", "stderr"] {
        if let Some(text) = e[stream].as_str().filter(|t| !t.is_empty()) {
            outln!("--- {stream} ---");
            outln!("{}", text.strip_suffix('\n').unwrap_or(text));
        }
    }
}

/// One log line of the API (`{"level", "message"}`) as `[level] message`.
pub(super) fn log_line(line: &Value) -> String {
    format!(
        "[{}] {}",
        line["level"].as_str().unwrap_or("?"),
        line["message"].as_str().unwrap_or("")
    )
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_execution_table_names_the_job_and_cuts_the_result() {
        let executions = json!([
            {"execution_id": "e1", "state": "succeeded", "scheduled_time": "2026-11-28T16:21:00+00:00",
             "job": {"name": "nightly"}, "job_id": "j1", "duration_ms": 0.5,
             "result": "[\n    \"arg1\"\n]"},
            {"execution_id": "e2", "state": "scheduled", "scheduled_time": "2026-11-28T16:22:00+00:00",
             "job_id": "j2", "duration_ms": null, "result": null}
        ]);
        assert_eq!(
            execution_table(&executions),
            "EXECUTION_ID  JOB      STATE      SCHEDULED (UTC)      DURATION  RESULT\n\
             e1            nightly  succeeded  2026-11-28 16:21:00  0.500 ms  [\"arg1\"]\n\
             e2            j2       scheduled  2026-11-28 16:22:00  -"
        );
    }

    #[test]
    fn log_lines_carry_their_level() {
        let line = json!({"level": "warn", "message": "disk almost full"});
        assert_eq!(log_line(&line), "[warn] disk almost full");
    }
}
