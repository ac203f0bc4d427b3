//! Benchmark output: a table on the terminal and a JSON file.

use std::path::Path;

use serde::Serialize;

use super::RunStats;

/// The figures of one side of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub what: String,
    pub ops_per_s: f64,
    pub events_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub errors: u64,
}

impl Figures {
    /// Figures of a run whose operations each carried `events_per_op` events.
    pub fn from_stats(what: impl Into<String>, stats: &RunStats, events_per_op: u64) -> Self {
        Self {
            what: what.into(),
            ops_per_s: stats.rate(),
            events_per_s: stats.rate() * events_per_op as f64,
            p50_ms: stats.percentile_ms(0.50),
            p99_ms: stats.percentile_ms(0.99),
            p999_ms: stats.percentile_ms(0.999),
            errors: stats.errors,
        }
    }
}

/// One benchmark case: ours beside PostgreSQL's ceiling for the same work.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub scenario: String,
    pub concurrency: usize,
    pub events_per_op: u64,
    #[serde(flatten)]
    pub figures: Figures,
    pub ceiling: Figures,
    /// Ours divided by the ceiling (events/s).
    pub ratio: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    /// Targets other than a ratio (latency, errors, memory, lag), each judged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<Goal>,
    /// Figures particular to the scenario.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// A target that is not a ratio, and whether the run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    pub goal: String,
    pub measured: String,
    pub met: bool,
}

impl Measurement {
    pub fn new(
        scenario: String,
        concurrency: usize,
        events_per_op: u64,
        figures: Figures,
        ceiling: Figures,
        target: Option<f64>,
    ) -> Self {
        let ratio = figures.events_per_s / ceiling.events_per_s.max(1e-9);
        Self {
            scenario,
            concurrency,
            events_per_op,
            figures,
            ceiling,
            ratio,
            target,
            goals: Vec::new(),
            details: serde_json::Map::new(),
        }
    }

    /// Adds a goal and whether it was met.
    pub fn goal(mut self, goal: impl Into<String>, measured: impl Into<String>, met: bool) -> Self {
        self.goals.push(Goal {
            goal: goal.into(),
            measured: measured.into(),
            met,
        });
        self
    }

    /// Adds a figure particular to the scenario.
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// Whether the ratio meets the target (true when there is none).
    pub fn meets_target(&self) -> bool {
        self.target.is_none_or(|t| self.ratio >= t)
    }
}

/// Prints the comparison table.
pub fn print_table(title: &str, rows: &[Measurement]) {
    println!("\n{title}");
    println!(
        "{:<22} {:>5} {:>4} | {:>9} {:>10} {:>7} {:>7} | {:>10} {:>7} {:>7} | {:>6} {:>7}",
        "scenario",
        "conc",
        "ev",
        "ops/s",
        "events/s",
        "p50 ms",
        "p99 ms",
        "ceil ev/s",
        "p50 ms",
        "p99 ms",
        "ratio",
        "target"
    );
    for m in rows {
        println!(
            "{:<22} {:>5} {:>4} | {:>9.0} {:>10.0} {:>7.2} {:>7.2} | {:>10.0} {:>7.2} {:>7.2} | {:>5.0}% {:>7}",
            m.scenario,
            m.concurrency,
            m.events_per_op,
            m.figures.ops_per_s,
            m.figures.events_per_s,
            m.figures.p50_ms,
            m.figures.p99_ms,
            m.ceiling.events_per_s,
            m.ceiling.p50_ms,
            m.ceiling.p99_ms,
            m.ratio * 100.0,
            match m.target {
                Some(t) if m.meets_target() => format!(">={:.0}% ok", t * 100.0),
                Some(t) => format!(">={:.0}% NO", t * 100.0),
                None => "-".to_owned(),
            }
        );
    }
    for m in rows {
        for g in &m.goals {
            println!(
                "  {:<22} {:<40} measured {:<28} {}",
                m.scenario,
                g.goal,
                g.measured,
                if g.met { "ok" } else { "NO" }
            );
        }
    }
    for m in rows {
        println!("  {:<22} {}", m.scenario, m.figures.what);
    }
}

/// Writes the measurements as a JSON array.
pub fn write_json(path: &Path, rows: &[Measurement]) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(rows)?)?;
    Ok(())
}
