//! Claiming a fire on PostgreSQL: the store's compare-and-set against `SELECT … FOR
//! UPDATE SKIP LOCKED`. `cargo bench -p wasmcron --bench claim` (`-- --rounds N`,
//! default 3). Needs a PostgreSQL: `WASMCRON_BENCH_DATABASE_URL`, else the one on
//! 127.0.0.1:5432 as user `postgres`; the bench creates and drops a database of its own.
//!
//! No wasmcron server: two claimers, each with its own pool (two hosts), talk to the
//! database directly with sqlx, on the schema of the store's PostgreSQL migrations and
//! 100,000 cron jobs. Each claim transaction is shaped as the group commit's
//! (`store/portable.rs`, `claim_with_rows`): `BEGIN`, a savepoint, the claim of a batch
//! of fires (`(job_id, due, next)` each, as a `VALUES` list), one `scheduled` execution
//! inserted per fire won (the real columns), release, `COMMIT`. Strategies:
//!
//! - `compare-and-set`: the store's statement (`store/postgres.rs`, `claim_fires`),
//!   `UPDATE jobs … FROM (VALUES …) WHERE next_run_time = due RETURNING job_id`. A claim
//!   of a row another transaction holds waits for that transaction to end, then matches
//!   nothing (the winner moved the next run time).
//! - `SKIP LOCKED`: `SELECT … FOR UPDATE OF jobs SKIP LOCKED` of the due rows, then the
//!   `UPDATE` of the rows it locked: a row another transaction holds is skipped at once.
//! - `SKIP LOCKED, 1 statement`: the same in one statement (the `SELECT` as a CTE of the
//!   `UPDATE … RETURNING`), to tell the locking apart from the extra round trip.
//!
//! Scenarios, in batches of 1, 16 and 128 fires per transaction (the sizes a group
//! commit carries, from a lone fire to a burst):
//!
//! - `uncontended`: the two claimers claim disjoint sets of due fires, each as fast as
//!   it can (every host claiming its own share).
//! - `contended, race`: both claim the same fires in the same batches, starting each
//!   batch together (both hosts think the fire is theirs). Who wins is a race; SKIP
//!   LOCKED may split a batch (each skips the rows the other locked first): `split`.
//! - `contended, backup`: the same fires, but the second claimer sends its claim once the
//!   first one's claim has answered (it holds the rows, its inserts and commit are still
//!   to come): a backup host claiming while the preferred host's transaction is open.
//!
//! In both contended scenarios every occurrence must be won exactly once: checked
//! against the executions table after each run (duplicates and missed must be 0, or the
//! bench fails). `loser wait` is the claim statement's time in the transactions that won
//! none of their batch: the compare-and-set waits there for the winner's commit (when the
//! winner has not committed yet), SKIP LOCKED does not.
//!
//! Every round runs each scenario and batch size with every strategy, the strategies'
//! order rotating from one round to the next; the table shows each figure's median over
//! the rounds. Between runs the executions are emptied and the jobs table vacuumed, so
//! that every run starts from the same tables.

mod common;

use common::{percentile, postgres_admin_url, postgres_url_of};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, QueryBuilder};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECOND: i64 = 1_000_000;
/// Jobs in the table: the size the lateness benches use.
const JOBS: usize = 100_000;
/// Every job fires once a minute; a claim moves its next run time one period on.
const PERIOD: i64 = 60 * SECOND;
const BATCH_SIZES: [usize; 3] = [1, 16, 128];
const CLASS: &str = "simple_scheduler.jobs.sample_job.AwesomeJob";

/// Transactions per claimer in one run of a batch size: about the same time for
/// every size.
fn transactions(batch: usize) -> usize {
    match batch {
        1 => 300,
        16 => 120,
        _ => 24,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Strategy {
    CompareAndSet,
    SkipLocked,
    SkipLockedOneStatement,
}

impl Strategy {
    const ALL: [Strategy; 3] = [
        Strategy::CompareAndSet,
        Strategy::SkipLocked,
        Strategy::SkipLockedOneStatement,
    ];

    fn label(self) -> &'static str {
        match self {
            Strategy::CompareAndSet => "compare-and-set",
            Strategy::SkipLocked => "SKIP LOCKED",
            Strategy::SkipLockedOneStatement => "SKIP LOCKED, 1 statement",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Uncontended,
    /// Both claimers start each batch at the same instant: a race.
    Race,
    /// The second claimer claims once the first holds the rows, before its commit.
    Backup,
}

impl Scenario {
    fn contended(self) -> bool {
        self != Scenario::Uncontended
    }

    fn label(self) -> &'static str {
        match self {
            Scenario::Uncontended => "uncontended",
            Scenario::Race => "contended, race",
            Scenario::Backup => "contended, backup",
        }
    }
}

/// One fire to claim: the job, the occurrence it claims, the one after.
#[derive(Clone)]
struct Fire {
    job_id: String,
    due: i64,
    next: i64,
}

/// What one claim transaction did.
struct Transaction {
    won: usize,
    /// The claim statement(s) up to knowing which fires were won.
    claim: Duration,
    /// `BEGIN` to the end of `COMMIT`.
    total: Duration,
}

/// A claimer: a pool of its own and the names its executions carry.
struct Claimer {
    pool: PgPool,
    hostname: String,
    host_id: String,
}

/// `VALUES` rows `(job_id::text, due::bigint, next::bigint)`, typed as the store's.
fn push_fires(qb: &mut QueryBuilder<sqlx::Postgres>, fires: &[&Fire]) {
    qb.push_values(fires, |mut b, fire| {
        b.push_bind(fire.job_id.clone())
            .push_unseparated("::text")
            .push_bind(fire.due)
            .push_unseparated("::bigint")
            .push_bind(fire.next)
            .push_unseparated("::bigint");
    });
}

/// How a claim of the `backup` scenario waits for the other claimer's.
enum Gate<'a> {
    /// Claims at once.
    Open,
    /// Tells the other claimer once its claim statement has answered (it holds the rows).
    Holding(&'a tokio::sync::mpsc::UnboundedSender<()>),
    /// Sends its claim statement only once the other claimer holds the rows.
    After(&'a mut tokio::sync::mpsc::UnboundedReceiver<()>),
}

/// Claims `fires` with `strategy` and inserts an execution for each fire won, in one
/// transaction, as the group commit does.
async fn claim(
    claimer: &Claimer,
    strategy: Strategy,
    fires: &[Fire],
    mut gate: Gate<'_>,
) -> anyhow::Result<Transaction> {
    let started = Instant::now();
    let mut tx = claimer.pool.begin().await?;
    let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
    if let Gate::After(holding) = &mut gate {
        holding
            .recv()
            .await
            .ok_or_else(|| anyhow::anyhow!("the other claimer stopped"))?;
    }
    let claiming = Instant::now();
    let all: Vec<&Fire> = fires.iter().collect();
    let won: Vec<String> = match strategy {
        Strategy::CompareAndSet => {
            let mut qb = QueryBuilder::new("UPDATE jobs SET next_run_time = v.column3 FROM (");
            push_fires(&mut qb, &all);
            qb.push(
                ") AS v WHERE jobs.job_id = v.column1 AND jobs.next_run_time = v.column2 \
                 RETURNING jobs.job_id",
            );
            qb.build_query_scalar().fetch_all(&mut *savepoint).await?
        }
        Strategy::SkipLocked => {
            let mut qb = QueryBuilder::new("SELECT jobs.job_id FROM jobs JOIN (");
            push_fires(&mut qb, &all);
            qb.push(
                ") AS v ON jobs.job_id = v.column1 AND jobs.next_run_time = v.column2 \
                 FOR UPDATE OF jobs SKIP LOCKED",
            );
            let locked: Vec<String> = qb.build_query_scalar().fetch_all(&mut *savepoint).await?;
            if !locked.is_empty() {
                // The rows are this transaction's now: no condition left to check.
                let mine: Vec<&Fire> = all
                    .iter()
                    .copied()
                    .filter(|f| locked.contains(&f.job_id))
                    .collect();
                let mut qb = QueryBuilder::new("UPDATE jobs SET next_run_time = v.column3 FROM (");
                push_fires(&mut qb, &mine);
                qb.push(") AS v WHERE jobs.job_id = v.column1");
                qb.build().execute(&mut *savepoint).await?;
            }
            locked
        }
        Strategy::SkipLockedOneStatement => {
            let mut qb = QueryBuilder::new(
                "WITH locked AS (SELECT jobs.job_id, v.column3 AS next FROM jobs JOIN (",
            );
            push_fires(&mut qb, &all);
            qb.push(
                ") AS v ON jobs.job_id = v.column1 AND jobs.next_run_time = v.column2 \
                 FOR UPDATE OF jobs SKIP LOCKED) \
                 UPDATE jobs SET next_run_time = locked.next FROM locked \
                 WHERE jobs.job_id = locked.job_id RETURNING jobs.job_id",
            );
            qb.build_query_scalar().fetch_all(&mut *savepoint).await?
        }
    };
    let claim_time = claiming.elapsed();
    if let Gate::Holding(holding) = &gate {
        // The other claimer may have failed; its own error says why.
        let _ = holding.send(());
    }
    if !won.is_empty() {
        insert_executions(claimer, fires, &won, &mut savepoint).await?;
    }
    savepoint.commit().await?;
    tx.commit().await?;
    Ok(Transaction {
        won: won.len(),
        claim: claim_time,
        total: started.elapsed(),
    })
}

/// The `scheduled` execution of each fire won, with the columns the scheduler fills
/// (`scheduler/execution.rs`, `execution_row`).
async fn insert_executions(
    claimer: &Claimer,
    fires: &[Fire],
    won: &[String],
    conn: &mut sqlx::PgConnection,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_micros();
    let mut qb = QueryBuilder::<sqlx::Postgres>::new(
        "INSERT INTO executions (execution_id, job_id, state, hostname, pid, description, result, \
         scheduled_time, updated_time, run_kind, attempt, retry_of, started_time, finished_time, \
         host_id) ",
    );
    let rows = fires.iter().filter(|f| won.contains(&f.job_id));
    qb.push_values(rows, |mut b, fire| {
        b.push_bind(uuid::Uuid::now_v7().simple().to_string())
            .push_bind(fire.job_id.clone())
            .push_bind("scheduled")
            .push_bind(claimer.hostname.clone())
            .push_bind(None::<i64>)
            .push_bind(None::<String>)
            .push_bind(None::<String>)
            .push_bind(fire.due)
            .push_bind(now)
            .push_bind("scheduled")
            .push_bind(1_i64)
            .push_bind(None::<String>)
            .push_bind(None::<i64>)
            .push_bind(None::<i64>)
            .push_bind(claimer.host_id.clone());
    });
    qb.build().execute(conn).await?;
    Ok(())
}

/// A fresh database of the bench's own, dropped by [`BenchDatabase::drop_database`].
struct BenchDatabase {
    name: String,
    url: String,
}

impl BenchDatabase {
    async fn create() -> anyhow::Result<Self> {
        let name = format!("wasmcron_bench_claim_{}", std::process::id());
        let admin = PgPool::connect(&postgres_admin_url()).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&admin)
            .await?;
        admin.close().await;
        Ok(BenchDatabase {
            url: postgres_url_of(&name),
            name,
        })
    }

    async fn drop_database(self) {
        if let Ok(admin) = PgPool::connect(&postgres_admin_url()).await {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

/// The store's tables (its own migrations) and `JOBS` cron jobs, ids `{i:032x}`, each
/// next due at `first`.
async fn prepare(pool: &PgPool, first: i64) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations/postgres").run(pool).await?;
    let mut tx = pool.begin().await?;
    for start in (0..JOBS).step_by(1000) {
        let mut qb = QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO jobs (job_id, name, job_class_string, pub_args, trigger_kind, \
             trigger_params, options, paused, next_run_time, created_time, updated_time) ",
        );
        qb.push_values(start..(start + 1000).min(JOBS), |mut b, i| {
            b.push_bind(format!("{i:032x}"))
                .push_bind(format!("job {i}"))
                .push_bind(CLASS)
                .push_bind("[\"a\"]")
                .push_bind("cron")
                .push_bind(format!(
                    r#"{{"month":"*","day_of_week":"*","day":"*","hour":"*","minute":"*","second":"{}"}}"#,
                    i % 60
                ))
                .push_bind("{}")
                .push_bind(false)
                .push_bind(first)
                .push_bind(first)
                .push_bind(first);
        });
        qb.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    sqlx::raw_sql("VACUUM ANALYZE jobs").execute(pool).await?;
    Ok(())
}

/// The figures of one run (one scenario, batch size and strategy).
struct Figures {
    claims_per_second: f64,
    p50: Duration,
    p99: Duration,
    /// Median claim time of the transactions that won nothing (contended only).
    loser_wait: Option<Duration>,
    losing_transactions: usize,
    split_batches: usize,
    duplicates: i64,
}

/// The jobs' next run times, as the bench has moved them: every occurrence of a run is
/// claimed exactly once (checked), so each claimed job moves one period on.
struct Schedule {
    next: Vec<i64>,
}

impl Schedule {
    fn fires(&self, jobs: std::ops::Range<usize>) -> Vec<Fire> {
        jobs.map(|i| Fire {
            job_id: format!("{i:032x}"),
            due: self.next[i],
            next: self.next[i] + PERIOD,
        })
        .collect()
    }

    fn claimed(&mut self, jobs: std::ops::Range<usize>) {
        for i in jobs {
            self.next[i] += PERIOD;
        }
    }
}

/// One run: both claimers claim their fires in batches of `batch`; returns its figures
/// after checking that every occurrence has exactly one execution.
async fn run(
    admin: &PgPool,
    claimers: &Arc<[Claimer; 2]>,
    schedule: &mut Schedule,
    scenario: Scenario,
    strategy: Strategy,
    batch: usize,
    transactions_each: usize,
) -> anyhow::Result<Figures> {
    let per_claimer = batch * transactions_each;
    // Contended: both claim jobs 0..n; uncontended: the first 0..n, the second n..2n.
    let ranges = if scenario.contended() {
        [0..per_claimer, 0..per_claimer]
    } else {
        [0..per_claimer, per_claimer..2 * per_claimer]
    };
    let occurrences = if scenario.contended() {
        per_claimer
    } else {
        2 * per_claimer
    };
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let (holding, held) = tokio::sync::mpsc::unbounded_channel();
    let (mut holding, mut held) = (Some(holding), Some(held));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, range) in ranges.iter().enumerate() {
        let fires = schedule.fires(range.clone());
        let claimers = claimers.clone();
        let barrier = barrier.clone();
        // Backup: the first claimer holds the rows, the second claims after it.
        let (signal, mut wait) = match (scenario, c) {
            (Scenario::Backup, 0) => (holding.take(), None),
            (Scenario::Backup, _) => (None, held.take()),
            _ => (None, None),
        };
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::with_capacity(transactions_each);
            for chunk in fires.chunks(batch) {
                if scenario.contended() {
                    barrier.wait().await;
                }
                let gate = match (&signal, &mut wait) {
                    (Some(signal), _) => Gate::Holding(signal),
                    (_, Some(wait)) => Gate::After(wait),
                    _ => Gate::Open,
                };
                done.push(claim(&claimers[c], strategy, chunk, gate).await?);
            }
            anyhow::Ok(done)
        }));
    }
    // The first failure ends the run: the other claimer may be waiting for it.
    let per_claimer_results =
        futures::future::try_join_all(tasks.into_iter().map(|task| async move { task.await? }))
            .await?;
    let elapsed = started.elapsed();

    let won: usize = per_claimer_results.iter().flatten().map(|t| t.won).sum();
    let (executions, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT (job_id, scheduled_time)) FROM executions")
            .fetch_one(admin)
            .await?;
    let duplicates = executions - distinct;
    let missed = occurrences as i64 - distinct;
    anyhow::ensure!(
        won == occurrences && duplicates == 0 && missed == 0,
        "{} {} batch {batch}: {won} claims won of {occurrences} occurrences, \
         {duplicates} duplicate and {missed} missing executions",
        scenario.label(),
        strategy.label()
    );
    for range in ranges.iter().take(if scenario.contended() { 1 } else { 2 }) {
        schedule.claimed(range.clone());
    }
    // The next run starts from the same tables.
    sqlx::raw_sql("TRUNCATE executions").execute(admin).await?;
    sqlx::raw_sql("VACUUM jobs").execute(admin).await?;

    let mut totals: Vec<Duration> = per_claimer_results
        .iter()
        .flatten()
        .map(|t| t.total)
        .collect();
    totals.sort();
    let mut losing: Vec<Duration> = per_claimer_results
        .iter()
        .flatten()
        .filter(|t| t.won == 0)
        .map(|t| t.claim)
        .collect();
    losing.sort();
    let split_batches = per_claimer_results[0]
        .iter()
        .zip(&per_claimer_results[1])
        .filter(|(a, b)| scenario.contended() && a.won > 0 && b.won > 0)
        .count();
    Ok(Figures {
        claims_per_second: occurrences as f64 / elapsed.as_secs_f64(),
        p50: percentile(&totals, 0.5),
        p99: percentile(&totals, 0.99),
        loser_wait: (!losing.is_empty()).then(|| percentile(&losing, 0.5)),
        losing_transactions: losing.len(),
        split_batches,
        duplicates,
    })
}

fn median_of<T: PartialOrd + Copy>(mut values: Vec<T>) -> Option<T> {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values.get(values.len().saturating_sub(1) / 2).copied()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// Prints one line of the table: each figure's median over the rounds.
fn print_row(scenario: Scenario, batch: usize, strategy: Strategy, rounds: &[Figures]) {
    let med_duration = |f: fn(&Figures) -> Duration| {
        median_of(rounds.iter().map(f).collect()).map_or("-".into(), ms)
    };
    let claims = median_of(rounds.iter().map(|f| f.claims_per_second).collect()).unwrap_or(0.0);
    let loser =
        median_of(rounds.iter().filter_map(|f| f.loser_wait).collect()).map_or("-".to_owned(), ms);
    let (losing, split) = if scenario.contended() {
        (
            median_of(rounds.iter().map(|f| f.losing_transactions).collect())
                .map_or("-".into(), |n| n.to_string()),
            median_of(rounds.iter().map(|f| f.split_batches).collect())
                .map_or("-".into(), |n| n.to_string()),
        )
    } else {
        ("-".to_owned(), "-".to_owned())
    };
    let duplicates: i64 = rounds.iter().map(|f| f.duplicates).sum();
    println!(
        "| {:<17} | {batch:>5} | {:<24} | {claims:>9.0} | {:>7} | {:>7} | {loser:>10} | {losing:>6} | {split:>5} | {duplicates:>3} |",
        scenario.label(),
        strategy.label(),
        med_duration(|f| f.p50),
        med_duration(|f| f.p99),
    );
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args
        .windows(2)
        .find(|w| w[0] == "--rounds")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(3)
        .max(1);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "wasmcron claim benchmark: {cores} cores; 2 claimers, {JOBS} jobs, {rounds} rounds (strategy order rotating), medians"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let db = BenchDatabase::create().await?;
        let result = bench(&db.url, rounds).await;
        db.drop_database().await;
        result
    })
}

async fn bench(url: &str, rounds: usize) -> anyhow::Result<()> {
    let admin = PgPool::connect(url).await?;
    let first = (chrono::Utc::now().timestamp_micros() / SECOND + 3600) * SECOND;
    prepare(&admin, first).await?;
    let mut schedule = Schedule {
        next: vec![first; JOBS],
    };
    let mut claimers = Vec::new();
    for name in ["claimer-a", "claimer-b"] {
        // One connection each: the group commit runs one transaction at a time.
        let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
        claimers.push(Claimer {
            pool,
            hostname: name.to_owned(),
            host_id: format!("{name}@{first}"),
        });
    }
    let claimers: Arc<[Claimer; 2]> = Arc::new(
        claimers
            .try_into()
            .map_err(|_| anyhow::anyhow!("two claimers"))?,
    );
    let cases: Vec<(Scenario, usize)> = [Scenario::Uncontended, Scenario::Race, Scenario::Backup]
        .into_iter()
        .flat_map(|s| BATCH_SIZES.map(|b| (s, b)))
        .collect();
    // A short warm-up of every statement, not counted.
    for &(scenario, batch) in &cases {
        for strategy in Strategy::ALL {
            run(
                &admin,
                &claimers,
                &mut schedule,
                scenario,
                strategy,
                batch,
                2,
            )
            .await?;
        }
    }
    let mut figures: Vec<Vec<Vec<Figures>>> = cases
        .iter()
        .map(|_| Strategy::ALL.iter().map(|_| Vec::new()).collect())
        .collect();
    let started = Instant::now();
    for round in 0..rounds {
        for (c, &(scenario, batch)) in cases.iter().enumerate() {
            for k in 0..Strategy::ALL.len() {
                let s = (k + round) % Strategy::ALL.len();
                let f = run(
                    &admin,
                    &claimers,
                    &mut schedule,
                    scenario,
                    Strategy::ALL[s],
                    batch,
                    transactions(batch),
                )
                .await?;
                // Each run's own figures, for judging the medians' spread.
                eprintln!(
                    "round {} {} batch {batch} {}: {:.0} claims/s, p50 {} ms, p99 {} ms, loser wait {} ms",
                    round + 1,
                    scenario.label(),
                    Strategy::ALL[s].label(),
                    f.claims_per_second,
                    ms(f.p50),
                    ms(f.p99),
                    f.loser_wait.map_or("-".to_owned(), ms),
                );
                figures[c][s].push(f);
            }
        }
        eprintln!(
            "round {} of {rounds} done after {:.0} s",
            round + 1,
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "| scenario          | batch | strategy                 |  claims/s | p50 ms  | p99 ms  | loser wait | losing | split | dup |"
    );
    println!(
        "| ----------------- | ----- | ------------------------ | --------- | ------- | ------- | ---------- | ------ | ----- | --- |"
    );
    for (c, &(scenario, batch)) in cases.iter().enumerate() {
        for (s, strategy) in Strategy::ALL.into_iter().enumerate() {
            print_row(scenario, batch, strategy, &figures[c][s]);
        }
    }
    println!(
        "p50/p99: one claim transaction (BEGIN to COMMIT), both claimers. loser wait: median claim-statement time of the transactions that won none of their batch (contended). losing: such transactions per run; split: batches both claimers won part of; dup: duplicate executions over all rounds (must be 0)."
    );
    for claimer in claimers.iter() {
        claimer.pool.close().await;
    }
    admin.close().await;
    Ok(())
}
