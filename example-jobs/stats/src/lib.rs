//! The plugin `wasmcron.examples.stats`: jobs that compute something real from their
//! arguments. Copy it as a starting point: typed arguments, validation with clear
//! failures, logs, and a structured result. Its only dependency is `wasmcron-sdk`, which
//! re-exports serde and schemars: a type deriving through them names them with
//! `#[serde(crate = ...)]` and `#[schemars(crate = ...)]`. Each class's arguments schema
//! (and its argument docs) is derived from its arguments type and doc comments.

use std::collections::BTreeMap;
use wasmcron_sdk::serde::{Deserialize, Serialize};
use wasmcron_sdk::serde_json::{Value, json};
use wasmcron_sdk::{Context, Job, JsonSchema, Result, fail, info, progress};

/// Summary statistics of a list of numbers.
struct Summarize;

/// The numbers to summarise, and which percentiles to compute.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "wasmcron_sdk::serde")]
#[serde(deny_unknown_fields)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct SummarizeArgs {
    /// The numbers to summarise (at least one).
    #[schemars(length(min = 1))]
    values: Vec<f64>,
    /// Optional percentiles to compute, each from 0 to 100 (nearest-rank).
    #[serde(default)]
    #[schemars(inner(range(min = 0, max = 100)))]
    percentiles: Vec<f64>,
}

#[derive(Serialize)]
#[serde(crate = "wasmcron_sdk::serde")]
struct Summary {
    count: usize,
    min: f64,
    max: f64,
    sum: f64,
    mean: f64,
    median: f64,
    stddev: f64,
    percentiles: BTreeMap<String, f64>,
}

impl Job for Summarize {
    const NAME: &'static str = "Summarize";
    const NOTES: &'static str = "Computes count, min, max, sum, mean, median, population \
        standard deviation and the requested percentiles of a list of numbers.";
    type Args = SummarizeArgs;
    type Output = Summary;

    fn example_arguments() -> Value {
        json!({"values": [3, 1, 4, 1, 5, 9, 2, 6], "percentiles": [50, 90]})
    }

    fn run(_ctx: &Context, args: SummarizeArgs) -> Result<Summary> {
        if args.values.is_empty() {
            fail!("values must hold at least one number");
        }
        if let Some(p) = args
            .percentiles
            .iter()
            .find(|p| !(0.0..=100.0).contains(*p))
        {
            fail!("percentile {p} is outside 0..=100");
        }
        let mut sorted = args.values;
        sorted.sort_by(f64::total_cmp);
        let count = sorted.len();
        let sum: f64 = sorted.iter().sum();
        let mean = sum / count as f64;
        let variance = sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count as f64;
        let median = if count % 2 == 1 {
            sorted[count / 2]
        } else {
            (sorted[count / 2 - 1] + sorted[count / 2]) / 2.0
        };
        let percentiles = args
            .percentiles
            .iter()
            .map(|&p| (format!("p{p}"), nearest_rank(&sorted, p)))
            .collect();
        info!("summarised {count} values");
        Ok(Summary {
            count,
            min: sorted[0],
            max: sorted[count - 1],
            sum,
            mean,
            median,
            stddev: variance.sqrt(),
            percentiles,
        })
    }
}

/// The nearest-rank percentile of sorted, non-empty `values`.
fn nearest_rank(sorted: &[f64], percentile: f64) -> f64 {
    let rank = ((percentile / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Word frequencies of a text.
struct WordCount;

/// The text, and how many words to list.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "wasmcron_sdk::serde")]
#[serde(deny_unknown_fields)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct WordCountArgs {
    /// The text to count.
    text: String,
    /// How many of the most frequent words to list (default 10).
    #[serde(default = "default_top")]
    top: usize,
}

fn default_top() -> usize {
    10
}

#[derive(Serialize)]
#[serde(crate = "wasmcron_sdk::serde")]
struct WordCounts {
    words: usize,
    distinct: usize,
    top: Vec<(String, usize)>,
}

impl Job for WordCount {
    const NAME: &'static str = "WordCount";
    const NOTES: &'static str = "Counts the words of a text (case-insensitive, split on \
        anything that is not a letter, digit or apostrophe) and lists the most frequent.";
    type Args = WordCountArgs;
    type Output = WordCounts;

    fn example_arguments() -> Value {
        json!({"text": "the cat saw the other cat", "top": 2})
    }

    fn run(_ctx: &Context, args: WordCountArgs) -> Result<WordCounts> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut words = 0;
        for word in args
            .text
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .filter(|w| !w.is_empty())
        {
            words += 1;
            *counts.entry(word.to_lowercase()).or_default() += 1;
        }
        progress(50, "counted");
        let distinct = counts.len();
        let mut top: Vec<(String, usize)> = counts.into_iter().collect();
        // Most frequent first; ties in alphabetical order, so the result is stable.
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(args.top);
        info!("{words} words, {distinct} distinct");
        Ok(WordCounts {
            words,
            distinct,
            top,
        })
    }
}

wasmcron_sdk::export_jobs!(Summarize, WordCount);
