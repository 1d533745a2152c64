//! What a running test shows while its clients work: a live line on stderr.
//!
//! On a terminal, one bar redrawn in place (elapsed of the time limit, ops/s, ok/fail/info,
//! the faults now in effect) with each fault printed as its own line above it as it starts and
//! heals. Anywhere else (a file, a pipe, CI), plain lines with no escape codes: a status line
//! every few seconds and each fault line. Stdout is left to the verdict.
//!
//! The reporter reads the runtime's [`LiveCounters`] on its own clock (tokio's, so a test can
//! run it on a paused clock) and hears of faults through [`Reporting`], a [`NemesisDriver`]
//! that wraps the real one. Nothing here decides anything about the test: drop it and the test
//! runs the same.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use labrys_gen::{LiveCounters, NemesisDriver, RunStats};
use labrys_history::Value;
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How often plain output prints a status line.
pub const PLAIN_EVERY: Duration = Duration::from_secs(10);
/// How often the terminal bar is redrawn.
const BAR_EVERY: Duration = Duration::from_millis(500);
/// The ops/s figure is measured over about this much of the recent past.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Stderr, ignoring a closed one (`labrys test 2>&1 | head`): progress is never worth a
/// test's teardown.
struct Eprint;

impl Write for Eprint {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

enum Out {
    Bar(ProgressBar),
    Plain(Box<dyn Write + Send>),
}

struct State {
    out: Out,
    started: Option<Instant>,
    /// Faults in effect, in start order: (family, what it does).
    active: Vec<(String, String)>,
    /// (when, completed ops) over the last [`RATE_WINDOW`], oldest first.
    samples: VecDeque<(Instant, u64)>,
}

/// The live progress of one test's main phase. Cheap to clone; every clone shows the same.
#[derive(Clone)]
pub struct Progress {
    limit: Duration,
    every: Duration,
    state: Arc<Mutex<State>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `[labrys HH:MM:SS] ` on the wall clock, as the run log prints its lines.
fn stamp() -> String {
    let t = labrys_store::timestamp::rfc3339(SystemTime::now());
    format!("[labrys {}]", &t[11..19])
}

/// A fault op's value in a few words: node lists without brackets or quotes.
pub fn describe(v: &Value) -> String {
    let names = |v: &Value| -> Option<String> {
        let seq = v.as_seq()?;
        let names: Option<Vec<&str>> = seq.iter().map(Value::as_name).collect();
        names.map(|n| n.join(" "))
    };
    if v.is_nil() {
        return String::new();
    }
    if let Some(n) = names(v) {
        return n;
    }
    if let Some(parts) = v
        .as_seq()
        .and_then(|s| s.iter().map(names).collect::<Option<Vec<_>>>())
    {
        return parts
            .iter()
            .map(|p| format!("[{p}]"))
            .collect::<Vec<_>>()
            .join(" ");
    }
    v.to_string().replace('"', "")
}

/// The faults in effect in a few words: `kill n2 n3, partition [n1] [n2 n3 n4 n5]`.
fn faults_text(active: &[(String, String)]) -> Option<String> {
    (!active.is_empty()).then(|| {
        active
            .iter()
            .map(|(fam, what)| match what.is_empty() {
                true => fam.clone(),
                false => format!("{fam} {what}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The bar's message, short enough for 80 columns: `19.6 ops/s ok 192 fail 3 info 1 | kill n2`.
fn bar_text(rate: f64, stats: RunStats, active: &[(String, String)]) -> String {
    format!(
        "{rate:.1} ops/s ok {} fail {} info {} | {}",
        stats.ok,
        stats.fail,
        stats.info,
        faults_text(active).unwrap_or_else(|| "no fault".into())
    )
}

/// The words of one status: `12/30 s  19.6 ops/s  ok 192  fail 3  info 1  faults: ...`.
pub fn status_text(
    elapsed: Duration,
    limit: Duration,
    rate: f64,
    stats: RunStats,
    active: &[(String, String)],
) -> String {
    let faults = faults_text(active).unwrap_or_else(|| "none".into());
    format!(
        "{}/{} s  {rate:.1} ops/s  ok {}  fail {}  info {}  faults: {faults}",
        elapsed.as_secs(),
        limit.as_secs(),
        stats.ok,
        stats.fail,
        stats.info
    )
}

impl Progress {
    /// Progress on stderr: the bar on a terminal, plain lines every [`PLAIN_EVERY`] otherwise
    /// (also on a terminal that cannot move its cursor, `TERM=dumb`).
    pub fn stderr(limit: Duration) -> Progress {
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        if std::io::stderr().is_terminal() && !dumb {
            let bar = ProgressBar::with_draw_target(
                Some(limit.as_secs().max(1)),
                ProgressDrawTarget::stderr(),
            );
            let style =
                ProgressStyle::with_template("{spinner} {pos:>3}/{len}s [{bar:16}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            Progress::with(Out::Bar(bar), limit, BAR_EVERY)
        } else {
            Progress::plain(Box::new(Eprint), limit, PLAIN_EVERY)
        }
    }

    /// Plain lines to `out`: a status line every `every`, and each fault line.
    pub fn plain(out: Box<dyn Write + Send>, limit: Duration, every: Duration) -> Progress {
        Progress::with(Out::Plain(out), limit, every)
    }

    fn with(out: Out, limit: Duration, every: Duration) -> Progress {
        Progress {
            limit,
            every,
            state: Arc::new(Mutex::new(State {
                out,
                started: None,
                active: Vec::new(),
                samples: VecDeque::new(),
            })),
        }
    }

    /// Prints one line: above the bar, or as a plain line. Stamped like the run log.
    pub fn println(&self, msg: &str) {
        let line = format!("{} {msg}", stamp());
        match &mut lock(&self.state).out {
            Out::Bar(bar) => bar.println(line),
            Out::Plain(w) => {
                let _ = w.write_all(format!("{line}\n").as_bytes());
                let _ = w.flush();
            }
        }
    }

    /// A fault op completed (`result` is what the nemesis returned): remembers what is in
    /// effect and prints a line for every start and stop.
    pub fn fault(&self, f: &str, value: &Value, result: &Result<Value, String>) {
        let line = {
            let mut st = lock(&self.state);
            if let Some(fam) = f.strip_prefix("start-") {
                let what = describe(value);
                st.active.retain(|(a, _)| a != fam);
                st.active.push((fam.to_string(), what.clone()));
                match result {
                    Ok(_) => format!("fault started: {fam} {what}"),
                    Err(e) => {
                        format!("fault {fam} {what} failed to start (may be partly in effect): {e}")
                    }
                }
            } else if let Some(fam) = f.strip_prefix("stop-") {
                let what = st
                    .active
                    .iter()
                    .find(|(a, _)| a == fam)
                    .map(|(_, w)| w.clone())
                    .unwrap_or_default();
                match result {
                    Ok(_) => {
                        st.active.retain(|(a, _)| a != fam);
                        format!("fault healed: {fam} {what}")
                    }
                    Err(e) => format!("could not heal {fam} {what}: {e}"),
                }
            } else if f == "heal" {
                match result {
                    Ok(_) => {
                        st.active.clear();
                        "healed every fault".to_string()
                    }
                    Err(e) => format!("healing every fault failed: {e}"),
                }
            } else {
                return;
            }
        };
        self.println(line.trim_end());
    }

    /// The main phase starts now: elapsed time counts from here.
    pub fn start(&self) {
        let mut st = lock(&self.state);
        st.started = Some(Instant::now());
        st.samples.clear();
    }

    /// One status at `now`: the bar's message and position, or a plain line.
    fn tick(&self, stats: RunStats) {
        let now = Instant::now();
        let mut st = lock(&self.state);
        let started = *st.started.get_or_insert(now);
        let total = stats.ops();
        st.samples.push_back((now, total));
        while st.samples.len() > 2 && now - st.samples[1].0 >= RATE_WINDOW {
            st.samples.pop_front();
        }
        let (t0, n0) = st.samples[0];
        let secs = (now - t0).as_secs_f64();
        let rate = if secs > 0.0 {
            (total - n0) as f64 / secs
        } else {
            0.0
        };
        let elapsed = now - started;
        let text = match &st.out {
            Out::Bar(_) => bar_text(rate, stats, &st.active),
            Out::Plain(_) => status_text(elapsed, self.limit, rate, stats, &st.active),
        };
        match &mut st.out {
            Out::Bar(bar) => {
                bar.set_position(elapsed.as_secs().min(self.limit.as_secs()));
                bar.set_message(text);
            }
            Out::Plain(w) => {
                let _ = w.write_all(format!("{} {text}\n", stamp()).as_bytes());
                let _ = w.flush();
            }
        }
    }

    /// Shows the counters until dropped (run it beside the workload and drop it after):
    /// every redraw interval on a terminal, every status interval in plain output.
    pub async fn show(&self, counters: Arc<LiveCounters>) {
        {
            let mut st = lock(&self.state);
            let now = Instant::now();
            st.started.get_or_insert(now);
            // The first rate is measured from here.
            st.samples.push_back((now, counters.snapshot().ops()));
        }
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate
        loop {
            ticks.tick().await;
            self.tick(counters.snapshot());
        }
    }

    /// The main phase is over: the bar goes away (plain output has nothing to undo).
    pub fn finish(&self) {
        if let Out::Bar(bar) = &lock(&self.state).out {
            bar.finish_and_clear();
        }
    }
}

/// A [`Progress`] on show: the reporter task ends and the bar goes away when this is dropped,
/// on every exit from the main phase (its end, an error, Ctrl-C).
pub struct Showing {
    task: tokio::task::JoinHandle<()>,
    progress: Progress,
}

impl Progress {
    /// Starts the main phase's clock and shows `counters` on a task of the current runtime.
    pub fn spawn_show(&self, counters: Arc<LiveCounters>) -> Showing {
        self.start();
        let p = self.clone();
        Showing {
            task: tokio::spawn(async move { p.show(counters).await }),
            progress: self.clone(),
        }
    }
}

impl Drop for Showing {
    fn drop(&mut self) {
        self.task.abort();
        self.progress.finish();
    }
}

/// A nemesis driver that tells a [`Progress`] about every fault op it completes.
pub struct Reporting<D> {
    inner: D,
    progress: Progress,
}

impl<D> Reporting<D> {
    pub fn new(inner: D, progress: Progress) -> Reporting<D> {
        Reporting { inner, progress }
    }
}

impl<D: NemesisDriver> NemesisDriver for Reporting<D> {
    fn next_op(&mut self) -> (String, Value) {
        self.inner.next_op()
    }

    fn invoke(&mut self, f: &str, value: &Value) -> Result<Value, String> {
        let r = self.inner.invoke(f, value);
        self.progress.fault(f, value, &r);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Value {
        Value::List(n.iter().map(|s| Value::str(s)).collect())
    }

    #[test]
    fn fault_values_read_as_nodes() {
        assert_eq!(describe(&names(&["n2", "n3"])), "n2 n3");
        let halves = Value::List(vec![names(&["n1", "n2"]), names(&["n3", "n4", "n5"])]);
        assert_eq!(describe(&halves), "[n1 n2] [n3 n4 n5]");
        assert_eq!(describe(&Value::Nil), "");
        let loss = Value::Map(vec![
            (Value::str("nodes"), names(&["n1"])),
            (Value::str("percent"), Value::Int(10)),
        ]);
        assert_eq!(describe(&loss), "{nodes [n1], percent 10}");
    }

    #[test]
    fn a_status_names_counts_rate_and_faults() {
        let stats = RunStats {
            ok: 192,
            fail: 3,
            info: 1,
            nemesis: 2,
        };
        let active = vec![
            ("kill".to_string(), "n2 n3 n4".to_string()),
            ("partition".to_string(), "[n1] [n2 n3 n4 n5]".to_string()),
        ];
        assert_eq!(
            status_text(
                Duration::from_millis(12_700),
                Duration::from_secs(30),
                19.64,
                stats,
                &active
            ),
            "12/30 s  19.6 ops/s  ok 192  fail 3  info 1  faults: kill n2 n3 n4, partition [n1] [n2 n3 n4 n5]"
        );
        assert!(
            status_text(Duration::ZERO, Duration::from_secs(30), 0.0, stats, &[])
                .ends_with("faults: none")
        );
        assert_eq!(
            bar_text(19.64, stats, &active[..1]),
            "19.6 ops/s ok 192 fail 3 info 1 | kill n2 n3 n4"
        );
        assert_eq!(
            bar_text(0.0, stats, &[]),
            "0.0 ops/s ok 192 fail 3 info 1 | no fault"
        );
    }
}
