//! `promote --metrics-file`: a Prometheus textfile (the node_exporter
//! textfile collector's format), written atomically: a temporary file in
//! the same directory, then a rename.
use std::fmt::Write as _;
use std::path::Path;

use crate::rollout::{Color, Phase};

/// What one stack's tick leaves behind.
#[derive(Clone, Debug, Default)]
pub struct StackMetrics {
    pub stack: String,
    pub weights: Option<(u8, u8)>,
    pub state: Option<Phase>,
    pub step: usize,
    pub steps: usize,
    /// When the tick ran (seconds since the epoch).
    pub tick: f64,
    /// The tick's exit code.
    pub exit: u8,
    pub alarms_firing: usize,
    /// The last verdicts: ("compare" | "judge" | "experiment" | "shadow", verdict).
    pub verdicts: Vec<(&'static str, String)>,
}

/// A label value escaped as the text format wants (backslash, quote, newline).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The textfile for these stacks.
pub fn render(all: &[StackMetrics]) -> String {
    let mut t = String::new();
    let mut family = |name: &str, help: &str, kind: &str, rows: Vec<String>| {
        let _ = writeln!(t, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for r in rows {
            let _ = writeln!(t, "{name}{r}");
        }
    };
    family(
        "cutover_weight",
        "Share of production traffic per colour, percent.",
        "gauge",
        all.iter()
            .filter_map(|m| m.weights.map(|w| (m, w)))
            .flat_map(|(m, (b, g))| {
                [(Color::Blue, b), (Color::Green, g)]
                    .into_iter()
                    .map(move |(c, v)| format!("{{stack=\"{}\",color=\"{c}\"}} {v}", esc(&m.stack)))
            })
            .collect(),
    );
    family(
        "cutover_rollout_state",
        "1 for the rollout's current state.",
        "gauge",
        all.iter()
            .filter_map(|m| m.state.map(|s| (m, s)))
            .flat_map(|(m, s)| {
                Phase::ALL.into_iter().map(move |p| {
                    format!(
                        "{{stack=\"{}\",state=\"{}\"}} {}",
                        esc(&m.stack),
                        p.as_str(),
                        u8::from(p == s)
                    )
                })
            })
            .collect(),
    );
    family(
        "cutover_rollout_step",
        "Steps applied in the current rollout.",
        "gauge",
        all.iter()
            .map(|m| format!("{{stack=\"{}\"}} {}", esc(&m.stack), m.step))
            .collect(),
    );
    family(
        "cutover_rollout_steps",
        "Steps in the current rollout.",
        "gauge",
        all.iter()
            .map(|m| format!("{{stack=\"{}\"}} {}", esc(&m.stack), m.steps))
            .collect(),
    );
    family(
        "cutover_last_tick_timestamp_seconds",
        "When promote last ticked the stack.",
        "gauge",
        all.iter()
            .map(|m| format!("{{stack=\"{}\"}} {:.3}", esc(&m.stack), m.tick))
            .collect(),
    );
    family(
        "cutover_last_tick_exit_code",
        "The last tick's exit code (0 ok, 2 bad input, 3 refused or rolled back, 75 locked).",
        "gauge",
        all.iter()
            .map(|m| format!("{{stack=\"{}\"}} {}", esc(&m.stack), m.exit))
            .collect(),
    );
    family(
        "cutover_alarms_firing",
        "Watched alarms in ALARM at the last tick.",
        "gauge",
        all.iter()
            .map(|m| format!("{{stack=\"{}\"}} {}", esc(&m.stack), m.alarms_firing))
            .collect(),
    );
    family(
        "cutover_verdict",
        "1 for each gate's last verdict.",
        "gauge",
        all.iter()
            .flat_map(|m| {
                m.verdicts.iter().map(move |(g, v)| {
                    format!(
                        "{{stack=\"{}\",gate=\"{g}\",verdict=\"{}\"}} 1",
                        esc(&m.stack),
                        esc(v)
                    )
                })
            })
            .collect(),
    );
    t
}

/// Writes `text` to `path` atomically (readers see the old file or the new one).
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // node_exporter ignores files not ending in .prom: the temporary one is skipped.
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_state_is_set_and_labels_are_escaped() {
        let m = StackMetrics {
            stack: "ir\"is".into(),
            weights: Some((90, 10)),
            state: Some(Phase::Shifting),
            step: 1,
            steps: 3,
            tick: 1.5,
            exit: 0,
            alarms_firing: 0,
            verdicts: vec![("judge", "pass".into())],
        };
        let t = render(&[m]);
        assert!(
            t.contains("cutover_weight{stack=\"ir\\\"is\",color=\"green\"} 10"),
            "{t}"
        );
        let ones = t
            .lines()
            .filter(|l| l.starts_with("cutover_rollout_state") && l.ends_with(" 1"))
            .count();
        assert_eq!(ones, 1);
        assert!(t.contains("state=\"shifting\"} 1"));
        assert!(t.contains("cutover_last_tick_timestamp_seconds{stack=\"ir\\\"is\"} 1.500"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cutover.prom");
        write_atomic(&p, &t).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), t);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }
}
