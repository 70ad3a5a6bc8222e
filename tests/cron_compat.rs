//! wasmcron's cron fields against APScheduler itself, whose rules they follow
//! (docs/scheduling.md): a few hundred specifications, generated from a fixed seed over
//! every form of the grammar, the six fields and seven time zones, go to a real server
//! (`POST /api/v1/jobs`, then `GET /api/v1/jobs/<id>/next-runs`) and to APScheduler
//! 3.10.4 with zoneinfo time zones (`tests/cron_compat/apscheduler_fires.py`, one Python
//! process for all of them). Both must refuse the same specifications, and fire at the
//! same instants, except within two hours of a daylight-saving transition. There the
//! documented rule decides, and it is checked on its own: the wall-clock times that match
//! the fields (APScheduler's, in a zone without daylight saving) are turned into instants
//! by the rule as docs/scheduling.md words it, and wasmcron's fires must be exactly
//! those.
//!
//! APScheduler comes from `make toolchains` (the shared venv in target/toolchains). When
//! it is missing the test says so and passes, except under CI (`CI` set), where it fails.

mod common;

use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use common::{Server, ServerOptions, time, tmp};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// How many specifications, and how many fires of each are compared.
const SPECS: usize = 600;
const FIRES: usize = 50;
const SAMPLE: &str = "simple_scheduler.jobs.sample_job.AwesomeJob";
/// The APScheduler release the comparison is pinned to (installed by `make toolchains`).
const APSCHEDULER: &str = "3.10.4";
/// UTC and six zones with daylight saving, or without it and a fractional offset:
/// Berlin and New York (spring forward and fall back by an hour, at 02:00 local),
/// Lord Howe (by half an hour), Chatham (at 02:45 local), Santiago (at midnight, so the
/// date changes with it) and Kolkata (+05:30, no daylight saving).
const ZONES: [&str; 7] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Santiago",
    "Asia/Kolkata",
];
/// How far from a transition APScheduler and wasmcron may differ.
const NEAR: TimeDelta = TimeDelta::hours(2);

/// The specifications start between these years: after any day this test will run on
/// (a start date in the past would make the server count from now), and long enough
/// before 2100, from where chrono-tz has no daylight saving (docs/scheduling.md).
const FIRST_YEAR: i32 = 2045;
const LAST_YEAR: i32 = 2060;

fn cutoff() -> DateTime<Utc> {
    utc(2100, 1, 1)
}

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
}

// ---- APScheduler -----------------------------------------------------------------------

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shared venv's Python with APScheduler in it; if missing, says so, and fails
/// under CI, which runs `make toolchains`.
fn apscheduler_python() -> Option<PathBuf> {
    let python = root().join("target/toolchains/venv/bin/python");
    let version = Command::new(&python)
        .args([
            "-c",
            "import apscheduler, tzdata; print(apscheduler.__version__)",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if version.as_deref() == Some(APSCHEDULER) {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install APScheduler {APSCHEDULER} into {} (make toolchains); found {version:?}",
        python.display()
    );
    eprintln!(
        "skipped: APScheduler {APSCHEDULER} is not installed in {} (make toolchains); found {version:?}",
        python.display()
    );
    None
}

/// Starts the helper on `input`; [`answers`] collects what it says.
fn ask(python: &Path, input: Value) -> Child {
    let mut child = Command::new(python)
        .arg(root().join("tests/cron_compat/apscheduler_fires.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the APScheduler helper");
    let mut stdin = child.stdin.take().unwrap();
    let text = input.to_string();
    // On a thread, so that a large input cannot block on a full pipe.
    std::thread::spawn(move || stdin.write_all(text.as_bytes()).unwrap());
    child
}

/// The helper's `results`, after checking that its zones are chrono-tz's release.
fn answers(child: Child) -> Vec<Value> {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the APScheduler helper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["tzdata"],
        chrono_tz::IANA_TZDB_VERSION,
        "the Python tzdata package must be the IANA release chrono-tz carries (pin it in the Makefile's toolchains target)"
    );
    match v["results"].take() {
        Value::Array(results) => results,
        other => panic!("no results from the helper: {other}"),
    }
}

// ---- the specifications ------------------------------------------------------------------

/// A xorshift64* generator: deterministic, so every run checks the same specifications.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// 0 ..= n - 1.
    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
    /// a ..= b.
    fn range(&mut self, a: u32, b: u32) -> u32 {
        a + self.below(b - a + 1)
    }
    fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u32) as usize]
    }
}

/// A field's name, its values, and its names (APScheduler's: 0 is Monday).
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// How often a specification gives it, in percent.
    given: u32,
}

const FIELDS: [Field; 6] = [
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
        given: 20,
    },
    Field {
        name: "day",
        min: 1,
        max: 31,
        names: &[],
        given: 25,
    },
    Field {
        name: "day_of_week",
        min: 0,
        max: 6,
        names: &["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        given: 25,
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        given: 60,
    },
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        given: 60,
    },
    Field {
        name: "second",
        min: 0,
        max: 59,
        names: &[],
        given: 25,
    },
];

/// Names in any case, as both parsers take them.
fn any_case(rng: &mut Rng, name: &str) -> String {
    match rng.below(3) {
        0 => name.to_owned(),
        1 => name.to_ascii_uppercase(),
        _ => name[..1].to_ascii_uppercase() + &name[1..],
    }
}

/// One valid item of a field's list.
fn item(rng: &mut Rng, f: &Field) -> String {
    let (min, max) = (f.min, f.max);
    // Values around the daylight-saving transitions (00:00 to 03:59, minutes 0/15/30/45)
    // are likelier, so that many fires fall inside a gap or a repeated hour.
    let value = |rng: &mut Rng| match f.name {
        "hour" if rng.chance(40) => rng.range(0, 3),
        "minute" if rng.chance(30) => *rng.pick(&[0, 15, 30, 45]),
        _ => rng.range(min, max),
    };
    // Every second for hours costs the server's daylight-saving search (which looks at
    // every candidate within three hours of a transition) most of the test's time: seconds
    // are mostly single values.
    if f.name == "second" && rng.chance(60) {
        return value(rng).to_string();
    }
    match rng.below(100) {
        0..20 => "*".into(),
        20..33 => format!("*/{}", rng.range(1, max - min)),
        33..58 => value(rng).to_string(),
        58..70 => {
            let a = rng.range(min, max - 1);
            format!("{a}-{}", rng.range(a + 1, max))
        }
        70..80 => {
            let a = rng.range(min, max - 1);
            let b = rng.range(a + 1, max);
            format!("{a}-{b}/{}", rng.range(1, b - a))
        }
        80..86 => {
            let a = rng.range(min, max - 1);
            format!("{a}/{}", rng.range(1, max - a))
        }
        _ if !f.names.is_empty() => {
            let a = rng.below(f.names.len() as u32);
            let first = any_case(rng, f.names[a as usize]);
            if rng.chance(50) && (a as usize) + 1 < f.names.len() {
                let b = rng.range(a + 1, f.names.len() as u32 - 1);
                format!("{first}-{}", any_case(rng, f.names[b as usize]))
            } else {
                first
            }
        }
        _ if f.name == "day" => {
            let weekday = *rng.pick(FIELDS[2].names);
            let weekday = any_case(rng, weekday);
            match rng.below(3) {
                0 => any_case(rng, "last"),
                1 => format!(
                    "{} {weekday}",
                    rng.pick(&["1st", "2nd", "3rd", "4th", "5th"])
                ),
                _ => format!("{} {weekday}", any_case(rng, "last")),
            }
        }
        _ => value(rng).to_string(),
    }
}

/// An item both APScheduler and wasmcron refuse.
fn invalid_item(rng: &mut Rng, f: &Field) -> String {
    let (min, max) = (f.min, f.max);
    let a = rng.range(min, max - 1);
    let b = rng.range(a + 1, max);
    match rng.below(7) {
        // A step larger than the range it steps through (`*/60` minutes, `5-10/7`).
        0 => format!("*/{}", max - min + 1 + rng.below(100)),
        1 => format!("{a}-{b}/{}", b - a + 1 + rng.below(10)),
        // Near the 32-bit limit, where a step once wrapped.
        2 => format!("{max}/4294967295"),
        3 => format!("+{a}"),
        4 => format!("{a} - {b}"),
        5 => (max + 1 + rng.below(10)).to_string(),
        _ if f.name == "month" => format!("{a}-{}", f.names[b as usize - 1]),
        _ => format!("{}-{a}", b + max),
    }
}

/// One generated specification.
struct Spec {
    /// The fields given, by name.
    fields: Vec<(&'static str, String)>,
    zone: &'static str,
    tz: Tz,
    /// The first fire is at or after it.
    start: DateTime<Utc>,
    /// Whether an item was made invalid on purpose.
    invalid: bool,
}

impl Spec {
    /// Whether the job follows real time at a transition: its `hour` field, after the
    /// defaulting rule, starts with `*` (docs/scheduling.md, daylight saving time).
    fn follows_real_time(&self) -> bool {
        let given = |name| self.fields.iter().find(|(n, _)| *n == name);
        match given("hour") {
            Some((_, hour)) => hour.trim().starts_with('*'),
            // Not given: `*` when a less significant field is given, else 0.
            None => given("minute").is_some() || given("second").is_some(),
        }
    }

    fn fields_json(&self) -> Value {
        let map: Map<String, Value> = self
            .fields
            .iter()
            .map(|(n, v)| ((*n).to_owned(), Value::String(v.clone())))
            .collect();
        Value::Object(map)
    }
}

fn generate(rng: &mut Rng, transitions: &HashMap<&str, Vec<Transition>>) -> Spec {
    let zone = *rng.pick(&ZONES);
    let tz: Tz = zone.parse().unwrap();
    let mut fields = Vec::new();
    for f in &FIELDS {
        if rng.chance(f.given) {
            let items: Vec<String> = (0..=rng.below(3) / 2).map(|_| item(rng, f)).collect();
            let separator = if rng.chance(20) { ", " } else { "," };
            fields.push((f.name, items.join(separator)));
        }
    }
    if fields.is_empty() {
        fields.push(("minute", item(rng, &FIELDS[4])));
    }
    let invalid = rng.chance(6);
    if invalid {
        let i = rng.below(fields.len() as u32) as usize;
        let f = FIELDS.iter().find(|f| f.name == fields[i].0).unwrap();
        fields[i].1 = invalid_item(rng, f);
    }
    // Half the specifications start shortly before a transition of their zone (from
    // seconds to a month before), the others anywhere.
    let zone_transitions = &transitions[zone];
    let start = if !zone_transitions.is_empty() && rng.chance(50) {
        let t = rng.pick(zone_transitions).at;
        let before = match rng.below(4) {
            0 => rng.below(300),
            1 => rng.below(3 * 3600),
            2 => rng.below(2 * 86_400),
            _ => rng.below(30 * 86_400),
        };
        t - TimeDelta::seconds(i64::from(before))
    } else {
        let span = (utc(LAST_YEAR, 12, 31) - utc(FIRST_YEAR, 1, 1)).num_seconds() as u64;
        utc(FIRST_YEAR, 1, 1) + TimeDelta::seconds((rng.next() % span) as i64)
    };
    Spec {
        fields,
        zone,
        tz,
        start,
        invalid,
    }
}

// ---- time zones and the daylight-saving rule -----------------------------------------------

/// A change of a zone's UTC offset: from `at` on, `after` seconds instead of `before`.
#[derive(Debug, Clone, Copy)]
struct Transition {
    at: DateTime<Utc>,
    before: i32,
    after: i32,
}

fn offset(tz: Tz, t: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&t.naive_utc())
        .fix()
        .local_minus_utc()
}

/// Every transition of `tz` from `FIRST_YEAR` to 2100, to the second: a scan every
/// 12 hours (no zone here changes twice in that time), then a bisection.
fn transitions_of(tz: Tz) -> Vec<Transition> {
    let mut out = Vec::new();
    let mut t = utc(FIRST_YEAR, 1, 1);
    let step = TimeDelta::hours(12);
    while t < cutoff() {
        let (before, after) = (offset(tz, t), offset(tz, t + step));
        if before != after {
            let (mut lo, mut hi) = (t, t + step);
            while hi - lo > TimeDelta::seconds(1) {
                let mid = lo + TimeDelta::seconds((hi - lo).num_seconds() / 2);
                if offset(tz, mid) == before {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            out.push(Transition {
                at: hi,
                before,
                after,
            });
        }
        t += step;
    }
    out
}

/// The instants at which a matching wall-clock time `wall` fires, by the rule of
/// docs/scheduling.md: a time that exists once fires then; one that occurs twice fires at
/// both occurrences when the job follows real time, else at the first; one inside a
/// spring-forward gap does not fire when the job follows real time, else it fires at the
/// first instant after the gap, which is the transition itself.
fn by_the_rule(
    tz: Tz,
    wall: NaiveDateTime,
    real_time: bool,
    gap_end: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
        LocalResult::Ambiguous(first, second) if real_time => {
            vec![first.with_timezone(&Utc), second.with_timezone(&Utc)]
        }
        LocalResult::Ambiguous(first, _) => vec![first.with_timezone(&Utc)],
        LocalResult::None if real_time => Vec::new(),
        LocalResult::None => vec![gap_end],
    }
}

fn naive(t: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").unwrap()
}

fn instants(v: &Value) -> Vec<DateTime<Utc>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            DateTime::parse_from_rfc3339(t.as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc)
        })
        .collect()
}

// ---- the test --------------------------------------------------------------------------------

/// What wasmcron said of a specification: its fires, or why it refused it.
type Answer = Result<Vec<DateTime<Utc>>, String>;

async fn wasmcron(server: &Server, spec: &Spec) -> Answer {
    let body = json!({
        "name": "cron compat",
        "job_class_string": SAMPLE,
        "trigger": "cron",
        "trigger_params": spec.fields_json(),
        "timezone": spec.zone,
        "start_date": spec.start.to_rfc3339(),
    });
    let (status, json) = server.post("/api/v1/jobs", &body.to_string()).await;
    if status == StatusCode::BAD_REQUEST {
        return Err(json["error"].as_str().unwrap().to_owned());
    }
    assert_eq!(status, StatusCode::CREATED, "creating {body}: {json}");
    let id = json["job_id"].as_str().unwrap();
    let (status, runs) = server
        .get(&format!("/api/v1/jobs/{id}/next-runs?count={FIRES}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    Ok(runs["next_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| time(&r["utc"]))
        .collect())
}

/// A transition near the fires of one specification, and the wall-clock window whose
/// matching times can fire within `lo..=hi` (the instants within `NEAR` of it that the
/// comparison covers).
struct Window {
    spec: usize,
    transition: Transition,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
}

#[derive(Default)]
struct Figures {
    specs: usize,
    refused_by_both: usize,
    never_fire_in_both: usize,
    compared_specs: usize,
    /// wasmcron's fires up to the end of the comparison (before 2100, and before the
    /// last fire of either list).
    fires_compared: usize,
    fires_after_2100: usize,
    identical_specs: usize,
    specs_differing: usize,
    only_wasmcron: usize,
    only_apscheduler: usize,
    /// Fires within NEAR of a transition, checked against the rule, by kind.
    rule_fires: HashMap<&'static str, usize>,
    windows: usize,
    /// Differences by kind of transition and by which side has the fire.
    differences: HashMap<String, usize>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_fields_fire_as_in_apscheduler() {
    let Some(python) = apscheduler_python() else {
        return;
    };
    let began = Instant::now();

    let transitions: HashMap<&str, Vec<Transition>> = ZONES
        .iter()
        .map(|z| (*z, transitions_of(z.parse().unwrap())))
        .collect();
    let mut rng = Rng(0x5eed_c0ff_ee15_a5c4);
    let specs: Vec<Spec> = (0..SPECS)
        .map(|_| generate(&mut rng, &transitions))
        .collect();

    // APScheduler works out its fires while the server works out wasmcron's.
    let input: Vec<Value> = specs
        .iter()
        .map(|s| {
            json!({
                "fields": s.fields_json(),
                "timezone": s.zone,
                "start": s.start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "count": FIRES,
                "windows": [],
            })
        })
        .collect();
    let helper = ask(&python, json!({ "specs": input }));
    let dir = tmp();
    // One small plugin, the job class's: a server compiles every plugin it is given.
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let plugin = SAMPLE.rsplit_once('.').unwrap().0;
    std::fs::copy(
        common::plugin(plugin),
        plugins.join(format!("{plugin}.wasm")),
    )
    .unwrap();
    let server = ServerOptions {
        plugin_dir: Some(plugins),
        ..ServerOptions::new(&dir.path().join("data"))
    }
    .start();
    // A few requests at a time, so that the server uses both cores.
    let ours: Vec<Answer> = futures::stream::iter(specs.iter().map(|s| wasmcron(&server, s)))
        .buffered(4)
        .collect()
        .await;
    let theirs = answers(helper);
    assert_eq!(theirs.len(), SPECS);

    let mut figures = Figures {
        specs: SPECS,
        ..Figures::default()
    };
    let mut problems = Vec::new();
    let mut windows = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let aps_error = theirs[i]["error"].as_str();
        let aps_fires = instants(&theirs[i]["fires"]);
        let what = format!(
            "spec {i}: {} in {} from {}",
            spec.fields_json(),
            spec.zone,
            spec.start
        );
        let fires = match (&ours[i], aps_error) {
            (Err(ours), Some(theirs)) => {
                figures.refused_by_both += 1;
                if !spec.invalid {
                    problems.push(format!(
                        "{what}: generated as valid, yet refused by both: {ours} / {theirs}"
                    ));
                }
                let named = FIELDS
                    .iter()
                    .any(|f| ours.starts_with(&format!("invalid {} expression '", f.name)));
                if !named {
                    problems.push(format!("{what}: the message names no field: {ours}"));
                }
                continue;
            }
            (Err(ours), None) if aps_fires.is_empty() && ours.contains("never fires") => {
                figures.never_fire_in_both += 1;
                continue;
            }
            (Err(ours), None) => {
                problems.push(format!(
                    "{what}: wasmcron refuses it ({ours}); APScheduler fires at {:?}",
                    aps_fires.first()
                ));
                continue;
            }
            (Ok(_), Some(theirs)) => {
                problems.push(format!(
                    "{what}: wasmcron accepts it; APScheduler refuses it: {theirs}"
                ));
                continue;
            }
            (Ok(fires), None) => fires,
        };
        if spec.invalid {
            problems.push(format!("{what}: made invalid, yet both accept it"));
        }
        figures.compared_specs += 1;
        let (Some(our_last), Some(their_last)) = (fires.last(), aps_fires.last()) else {
            problems.push(format!(
                "{what}: fires: wasmcron {}, APScheduler {}",
                fires.len(),
                aps_fires.len()
            ));
            continue;
        };
        if fires.first() < Some(&spec.start) || fires.windows(2).any(|w| w[0] >= w[1]) {
            problems.push(format!(
                "{what}: wasmcron's fires are out of order: {fires:?}"
            ));
            continue;
        }
        let end = (*our_last).min(*their_last).min(cutoff());
        figures.fires_after_2100 += fires.iter().filter(|t| **t >= cutoff()).count();
        let in_range = |t: &&DateTime<Utc>| **t <= end;
        let ours_set: BTreeSet<_> = fires.iter().filter(in_range).copied().collect();
        let theirs_set: BTreeSet<_> = aps_fires.iter().filter(in_range).copied().collect();
        figures.fires_compared += ours_set.len();
        let near: Vec<Transition> = transitions[spec.zone]
            .iter()
            .filter(|t| t.at + NEAR >= spec.start && t.at - NEAR <= end)
            .copied()
            .collect();
        let near_one = |t: &DateTime<Utc>| near.iter().find(|tr| (*t - tr.at).abs() <= NEAR);
        if ours_set == theirs_set {
            figures.identical_specs += 1;
        } else {
            figures.specs_differing += 1;
        }
        for (side, fire) in ours_set
            .difference(&theirs_set)
            .map(|t| ("only wasmcron", t))
            .chain(
                theirs_set
                    .difference(&ours_set)
                    .map(|t| ("only APScheduler", t)),
            )
        {
            let Some(tr) = near_one(fire) else {
                problems.push(format!(
                    "{what}: {side} fires at {fire} ({}), not near a daylight-saving transition",
                    fire.with_timezone(&spec.tz)
                ));
                continue;
            };
            if side == "only wasmcron" {
                figures.only_wasmcron += 1;
            } else {
                figures.only_apscheduler += 1;
            }
            let kind = if tr.after > tr.before {
                "spring forward"
            } else {
                "fall back"
            };
            let rule = if spec.follows_real_time() {
                "real time"
            } else {
                "wall clock"
            };
            *figures
                .differences
                .entry(format!("{kind}, {rule}: {side}"))
                .or_default() += 1;
        }
        for tr in near {
            let lo = spec.start.max(tr.at - NEAR);
            let hi = end.min(tr.at + NEAR);
            if lo <= hi {
                windows.push(Window {
                    spec: i,
                    transition: tr,
                    lo,
                    hi,
                });
            }
        }
    }

    // The rule, on its own: near each transition, wasmcron fires exactly at the instants
    // the rule gives the matching wall-clock times (APScheduler's, read without a zone).
    let input: Vec<Value> = windows
        .iter()
        .map(|w| {
            let spec = &specs[w.spec];
            let (low, high) = (
                w.transition.before.min(w.transition.after),
                w.transition.before.max(w.transition.after),
            );
            let first = w.lo.naive_utc() + TimeDelta::seconds(i64::from(low));
            let last = w.hi.naive_utc() + TimeDelta::seconds(i64::from(high));
            json!({
                "fields": spec.fields_json(),
                "timezone": spec.zone,
                "start": spec.start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "count": 0,
                "windows": [[
                    first.format("%Y-%m-%dT%H:%M:%S").to_string(),
                    last.format("%Y-%m-%dT%H:%M:%S").to_string(),
                ]],
            })
        })
        .collect();
    let walls = answers(ask(&python, json!({ "specs": input })));
    figures.windows = windows.len();
    for (w, answer) in windows.iter().zip(&walls) {
        let spec = &specs[w.spec];
        let real_time = spec.follows_real_time();
        let expected: BTreeSet<DateTime<Utc>> = answer["walls"][0]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| {
                by_the_rule(
                    spec.tz,
                    naive(t.as_str().unwrap()),
                    real_time,
                    w.transition.at,
                )
            })
            .filter(|t| (w.lo..=w.hi).contains(t))
            .collect();
        let Ok(fires) = &ours[w.spec] else {
            unreachable!("windows are only made for accepted specifications")
        };
        let got: BTreeSet<DateTime<Utc>> = fires
            .iter()
            .filter(|t| (w.lo..=w.hi).contains(*t))
            .copied()
            .collect();
        if got != expected {
            let local = |s: &BTreeSet<DateTime<Utc>>| {
                s.iter()
                    .map(|t| t.with_timezone(&spec.tz).to_rfc3339())
                    .collect::<Vec<_>>()
            };
            problems.push(format!(
                "spec {}: {} in {} near the transition at {}: wasmcron fires at {:?}, the rule says {:?}",
                w.spec,
                spec.fields_json(),
                spec.zone,
                w.transition.at,
                local(&got),
                local(&expected)
            ));
        }
        let kind = match (w.transition.after > w.transition.before, real_time) {
            (true, true) => "spring forward, real time",
            (true, false) => "spring forward, wall clock",
            (false, true) => "fall back, real time",
            (false, false) => "fall back, wall clock",
        };
        *figures.rule_fires.entry(kind).or_default() += got.len();
    }

    let elapsed = began.elapsed();
    eprintln!(
        "cron compat: {} specifications in {:.1} s: {} refused by both, {} never fire in \
         either, {} compared; {} fires compared (and {} after 2100 not compared, where \
         chrono-tz has no daylight saving); {} specifications identical, {} differ: {} \
         fires only wasmcron's, {} only APScheduler's, every one within {} h of a \
         transition: {:?}; near {} transitions, wasmcron's fires by the rule: {:?}",
        figures.specs,
        elapsed.as_secs_f64(),
        figures.refused_by_both,
        figures.never_fire_in_both,
        figures.compared_specs,
        figures.fires_compared,
        figures.fires_after_2100,
        figures.identical_specs,
        figures.specs_differing,
        figures.only_wasmcron,
        figures.only_apscheduler,
        NEAR.num_hours(),
        sorted(&figures.differences),
        figures.windows,
        sorted(&figures.rule_fires),
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The comparison is not vacuous: most specifications fire, some are refused, and the
    // rule met every kind of transition with fires to check.
    assert!(
        figures.compared_specs > SPECS / 2,
        "{}",
        figures.compared_specs
    );
    assert!(figures.refused_by_both > 10, "{}", figures.refused_by_both);
    for kind in [
        "spring forward, real time",
        "spring forward, wall clock",
        "fall back, real time",
        "fall back, wall clock",
    ] {
        let n = figures.rule_fires.get(kind).copied().unwrap_or(0);
        assert!(
            n >= 20,
            "only {n} fires near a transition checked for '{kind}'"
        );
    }
}

fn sorted<K: Ord + std::fmt::Debug + Clone>(m: &HashMap<K, usize>) -> Vec<(K, usize)> {
    let mut v: Vec<_> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
    v.sort();
    v
}
