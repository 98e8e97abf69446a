//! A running job's progress on stderr, as people expect of a command: on a terminal a bar that redraws in place
//! under the verdicts as they come, each verdict in its colour (unless NO_COLOR, or TERM=dumb); elsewhere (a log,
//! a CI job, a pipe) one plain line per verdict; nothing at all with `--quiet`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use mailproof_core::jobs::{ActionState, JobEvent, Verdict};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A bar redrawn in place, verdicts above it; `colour` for the verdicts' words.
    Terminal { colour: bool },
    /// One line per sending and per verdict, no control characters.
    Lines,
    /// Nothing.
    Quiet,
}

impl Style {
    /// What stderr is, and what the user asked for.
    pub fn detect(quiet: bool) -> Style {
        if quiet {
            return Style::Quiet;
        }
        let terminal = std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        if !terminal {
            return Style::Lines;
        }
        // https://no-color.org: any value, not only "1".
        let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Style::Terminal { colour }
    }
}

/// The job's progress so far, drawn as it changes.
pub struct Progress {
    style: Style,
    /// How many actions the job has, when known (`jobs resume` picks up jobs of any size).
    total: Option<usize>,
    /// Each action's latest verdict, by row: a verdict revised later (a gateway's notice) is counted once.
    decided: HashMap<String, Verdict>,
    /// What is being sent now, for the bar.
    sending: Option<String>,
    /// A bar is on the screen's last line.
    drawn: bool,
}

impl Progress {
    pub fn new(style: Style, total: Option<usize>) -> Mutex<Progress> {
        Mutex::new(Progress { style, total, decided: HashMap::new(), sending: None, drawn: false })
    }

    /// Takes one event and shows what it changes.
    pub fn event(&mut self, e: JobEvent) {
        let line = match (e.state, e.verdict) {
            (ActionState::Decided, Some(v)) => {
                self.decided.insert(e.row_id.clone(), v);
                if self.sending.as_deref() == Some(e.action_id.as_str()) {
                    self.sending = None;
                }
                Some(format!(
                    "{} {}: {} — {}",
                    e.action_id,
                    e.action_name,
                    self.verdict_word(v),
                    e.reason.unwrap_or_default()
                ))
            }
            (ActionState::Sending, _) => {
                self.sending = Some(e.action_id.clone());
                // On a terminal the bar says what is being sent; a line each would scroll the verdicts away.
                (self.style == Style::Lines).then(|| format!("{} {}: sending…", e.action_id, e.action_name))
            }
            _ => None,
        };
        let mut err = std::io::stderr().lock();
        match self.style {
            Style::Quiet => {}
            Style::Lines => {
                if let Some(line) = line {
                    let _ = writeln!(err, "{line}");
                }
            }
            Style::Terminal { .. } => {
                // Clear the bar, print the news above it, draw the bar again.
                let _ = write!(err, "\r\x1b[2K");
                if let Some(line) = line {
                    let _ = writeln!(err, "{line}");
                }
                let _ = write!(err, "{}", self.bar());
                let _ = err.flush();
                self.drawn = true;
            }
        }
    }

    /// Takes the bar off the screen (before the command's last words, or a message of its own).
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            let _ = std::io::stderr().flush();
            self.drawn = false;
        }
    }

    fn verdict_word(&self, v: Verdict) -> String {
        match self.style {
            Style::Terminal { colour: true } => format!("\x1b[{}m{}\x1b[0m", colour_of(v), v.label()),
            _ => v.label().to_owned(),
        }
    }

    /// "[#########-----------] 12/30 · 5 Prevented · 2 Detected · … · sending A100-002".
    fn bar(&self) -> String {
        const WIDTH: usize = 24;
        let done = self.decided.len();
        let head = match self.total {
            Some(total) if total > 0 => {
                let filled = (done.min(total) * WIDTH) / total;
                format!("[{}{}] {done}/{total}", "#".repeat(filled), "-".repeat(WIDTH - filled))
            }
            _ => format!("{done} decided"),
        };
        let mut parts = vec![head];
        for v in Verdict::ALL {
            let n = self.decided.values().filter(|d| **d == v).count();
            if n > 0 {
                parts.push(format!("{n} {}", self.verdict_word(v)));
            }
        }
        if let Some(a) = &self.sending {
            parts.push(format!("sending {a}"));
        }
        parts.join(" · ")
    }
}

/// ANSI SGR colours: green stopped, yellow flagged, magenta reported, red missed, grey for neither.
fn colour_of(v: Verdict) -> &'static str {
    match v {
        Verdict::Prevented => "32",
        Verdict::Detected => "33",
        Verdict::Alerted => "35",
        Verdict::Missed => "31",
        Verdict::Errored | Verdict::Incomplete => "90",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(row: &str, v: Verdict) -> JobEvent {
        JobEvent {
            job_id: "j".into(),
            group: 0,
            row_id: row.into(),
            action_id: "A100-001".into(),
            action_name: "EICAR".into(),
            state: ActionState::Decided,
            verdict: Some(v),
            reason: Some("why".into()),
        }
    }

    #[test]
    fn the_bar_counts_each_action_once_with_its_latest_verdict() {
        let p = Progress::new(Style::Terminal { colour: false }, Some(4));
        let mut p = p.into_inner().unwrap();
        p.decided.insert("r1".into(), Verdict::Missed);
        p.event(decided("r1", Verdict::Alerted));
        p.event(decided("r2", Verdict::Prevented));
        assert_eq!(p.bar(), "[############------------] 2/4 · 1 Prevented · 1 Alerted");
        let coloured = Progress { style: Style::Terminal { colour: true }, ..p };
        assert!(coloured.bar().contains("\x1b[32mPrevented\x1b[0m"), "{}", coloured.bar());
        assert_eq!(Progress::new(Style::Lines, None).into_inner().unwrap().bar(), "0 decided");
    }
}
