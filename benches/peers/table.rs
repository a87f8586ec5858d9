//! The one table `cargo bench --bench peers` prints: a row per figure,
//! ours and the peers' from the same run, the ratio the target speaks
//! of, the target and whether it was met.
//!
//! A figure that could not be measured is a [`Value::Missing`] with its
//! reason ("not installed", "needs root", "could not start: …"): the row
//! stays, its ratio is "–" and its target reads "?" (not checked).

/// One measurement, or why there is none.
#[derive(Clone, Debug)]
pub enum Value {
    /// The number a ratio uses, and how it is shown.
    Num(f64, String),
    Missing(String),
}

impl Value {
    pub fn num(&self) -> Option<f64> {
        match self {
            Value::Num(v, _) => Some(*v),
            Value::Missing(_) => None,
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Value::Num(_, t) | Value::Missing(t) => t,
        }
    }

    /// An empty cell for a row without that peer.
    pub fn none() -> Value {
        Value::Missing(String::new())
    }
}

/// What a row promises, checked against one number.
#[derive(Clone, Copy)]
pub enum Goal {
    /// No target: shown for comparison.
    Info,
    AtLeast(f64),
    AtMost(f64),
    Below(f64),
}

impl Goal {
    fn met(self, v: Option<f64>) -> &'static str {
        match (self, v) {
            (Goal::Info, _) => "–",
            (_, None) => "?",
            (Goal::AtLeast(t), Some(v)) => yes(v >= t),
            (Goal::AtMost(t), Some(v)) => yes(v <= t),
            (Goal::Below(t), Some(v)) => yes(v < t),
        }
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

pub struct Row {
    pub figure: String,
    pub ours: Value,
    pub postfix: Value,
    /// msmtp, fetchmail, or the floor: named in the cell.
    pub other: Value,
    /// ours / the peer the target names, when there is one.
    pub ratio: Option<f64>,
    pub target: String,
    /// The goal and the number it is checked against (the ratio or one
    /// of ours).
    pub goal: Goal,
    pub checked: Option<f64>,
}

impl Row {
    /// A row whose target is on ours / `peer` (Postfix unless said).
    pub fn versus(figure: impl Into<String>, ours: Value, postfix: Value, other: Value) -> Row {
        let ratio = match (ours.num(), postfix.num()) {
            (Some(a), Some(b)) if b != 0.0 => Some(a / b),
            _ => None,
        };
        Row {
            figure: figure.into(),
            ours,
            postfix,
            other,
            ratio,
            target: "–".into(),
            goal: Goal::Info,
            checked: ratio,
        }
    }

    /// The target is on the ratio.
    pub fn target(mut self, text: &str, goal: Goal) -> Row {
        self.target = text.into();
        self.goal = goal;
        self
    }

    /// The target is on `value` (one of ours), not on the ratio.
    pub fn target_on(mut self, text: &str, goal: Goal, value: Option<f64>) -> Row {
        self.checked = value;
        self.target(text, goal)
    }

    /// No ratio: the figures are not comparable as one (scaling factors).
    pub fn without_ratio(mut self) -> Row {
        self.ratio = None;
        self
    }

    /// The ratio is ours / the other peer's (the floor, fetchmail).
    pub fn ratio_to_other(mut self) -> Row {
        self.ratio = match (self.ours.num(), self.other.num()) {
            (Some(a), Some(b)) if b != 0.0 => Some(a / b),
            _ => None,
        };
        self.checked = self.ratio;
        self
    }
}

pub fn print(rows: &[Row]) {
    println!("| figure | ours | Postfix | other peer | ours / peer | target | met |");
    println!("|---|---:|---:|---:|---:|---|:-:|");
    for r in rows {
        let ratio = r.ratio.map_or("–".to_string(), |v| format!("{v:.2}"));
        println!(
            "| {} | {} | {} | {} | {ratio} | {} | {} |",
            r.figure,
            cell(&r.ours),
            cell(&r.postfix),
            cell(&r.other),
            r.target,
            r.goal.met(r.checked)
        );
    }
}

fn cell(v: &Value) -> &str {
    match v.text() {
        "" => "–",
        t => t,
    }
}

pub fn ms(secs: f64) -> String {
    if secs < 0.01 {
        format!("{:.2} ms", secs * 1000.0)
    } else {
        format!("{:.0} ms", secs * 1000.0)
    }
}

pub fn kib(kb: u64) -> Value {
    Value::Num(kb as f64, format!("{:.1} MiB", kb as f64 / 1024.0))
}
