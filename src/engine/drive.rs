//! The rollout transaction, written once. A command states an intent
//! (`shift --to P`, `continue`, a `promote` tick, the whole `shift`,
//! `rollback`); the drive checks it against the machine before the lock (bad
//! requests exit 2 with nothing written), or only reports under `--dry-run`,
//! then takes the lock, loads, repairs, checks drift, reads the alarms, asks
//! the machine, runs the gates of the stage, commits (`flow::advance`) and
//! returns what happened; a stop by an alarm or a gate is the error (exit 3).
use std::time::Duration;

use super::ctx::{refusal, Ctx};
use super::flow::{advance, repair};
use super::gates::{self, Stage};
use super::lease::{take_lock, Held};
use super::transition::check_drift;
use super::watch::{read_alarms, warn_insufficient};
use crate::aws::alarms::{self, AlarmState};
use crate::error::{invalid, safety, Error, Result};
use crate::rollout::{self, Event, Outcome, Phase, Transition};
use crate::store::{now_ms, StackDoc};

/// What the command wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// `shift --to P`: the pre-flight, the weights, the read-back; no bake.
    To(u8),
    /// `continue`: pass the pause and apply the next step now.
    Continue,
    /// `promote`: at most one due thing.
    Tick,
    /// `shift`: every step and bake in the foreground until done or paused.
    Run,
}

impl Intent {
    fn name(self) -> &'static str {
        match self {
            Intent::To(_) => "shift --to",
            Intent::Continue => "continue",
            Intent::Tick => "promote",
            Intent::Run => "shift",
        }
    }

    fn event(self, firing: Vec<String>) -> Event {
        let now = now_ms();
        match self {
            Intent::To(percent) => Event::ShiftTo {
                percent,
                now,
                firing,
            },
            Intent::Continue => Event::Continue { now, firing },
            Intent::Tick | Intent::Run => Event::Tick { now, firing },
        }
    }

    /// Whether the bake gates (end of bake, probes) belong to this intent.
    fn bakes(self) -> bool {
        matches!(self, Intent::Tick | Intent::Run)
    }

    /// The journal's event name for a committed step.
    fn journal_name(self) -> &'static str {
        match self {
            Intent::To(_) => "shift",
            Intent::Continue => "continue",
            Intent::Tick => "promote",
            Intent::Run => "step",
        }
    }
}

/// The flags every intent shares.
#[derive(Clone, Copy, Debug, Default)]
pub struct Opts<'o> {
    pub ignore: &'o [String],
    pub adopt: bool,
    pub dry_run: bool,
    /// `shift --ignore-schedule`: move traffic outside `[schedule]`.
    pub ignore_schedule: bool,
}

/// How a drive ended (a stop for safety is an error instead).
#[derive(Debug)]
pub enum Ended {
    /// A transition was committed: its note.
    Moved(StackDoc, String),
    /// Nothing was due: why, and when something next is (ms), if known.
    Nothing(StackDoc, String, Option<u64>),
    /// `--dry-run`: what the real run would do.
    Would(StackDoc, String),
}

impl Ended {
    pub fn doc(&self) -> &StackDoc {
        match self {
            Ended::Moved(d, _) | Ended::Nothing(d, _, _) | Ended::Would(d, _) => d,
        }
    }
}

/// Runs `intent` against the stack.
pub async fn drive(ctx: &Ctx<'_>, intent: Intent, opts: Opts<'_>) -> Result<Ended> {
    drive_from(ctx, intent, opts, None).await
}

/// `drive`, from a state already read (a batch `promote` reads them together).
pub async fn drive_from(
    ctx: &Ctx<'_>,
    intent: Intent,
    opts: Opts<'_>,
    preloaded: Option<StackDoc>,
) -> Result<Ended> {
    let doc = match preloaded {
        Some(d) => d,
        None => ctx.load_provisioned().await?.0,
    };
    if let Some(early) = before_lock(ctx, intent, &doc, opts).await? {
        return Ok(early);
    }
    if opts.dry_run {
        return dry_run(ctx, intent, doc, opts).await;
    }
    let held = take_lock(ctx, intent.name()).await?;
    let res = under_lock(ctx, intent, opts, &held).await;
    if let Err(Error::Interrupted(code)) = &res {
        if let Ok((d, _)) = ctx.load().await {
            let w = d.weights.map(|w| w.to_string()).unwrap_or_default();
            let detail = format!(
                "{} stopped by {} at step {}; weights stay {w}",
                intent.name(),
                crate::signal::name(*code),
                d.status.step
            );
            let _ = ctx.journal("interrupted", &detail, &d).await;
        }
    }
    held.release().await;
    res
}

/// The checks before the lock: a request the machine refuses fails here
/// with nothing written; a tick with nothing due ends here without the lock.
async fn before_lock(
    ctx: &Ctx<'_>,
    intent: Intent,
    doc: &StackDoc,
    opts: Opts<'_>,
) -> Result<Option<Ended>> {
    let left = doc.pending.is_some() || !doc.hooks_due.is_empty() || doc.alias_owed.is_some();
    match intent {
        Intent::To(_) | Intent::Continue => {
            let t =
                rollout::apply(&ctx.spec(), &doc.status, intent.event(vec![])).map_err(refusal)?;
            if let Some(early) = closed(ctx, doc, intent, &t, opts)? {
                return Ok(Some(early));
            }
        }
        Intent::Run => match doc.status.phase {
            Phase::Ready | Phase::Shifting | Phase::Experimenting => {}
            Phase::Paused | Phase::Complete if !left || opts.dry_run => {
                return Ok(Some(Ended::Nothing(doc.clone(), held_why(doc), None)))
            }
            Phase::Paused | Phase::Complete => {}
            Phase::FailedValidation => return Err(refusal(rollout::not_validated(&doc.status))),
            other => {
                return Err(invalid(format!(
                "nothing to shift (rollout state is {}); run `cutover deploy --version V` first",
                other.as_str()
            )))
            }
        },
        Intent::Tick => {
            // A rolled-back candidate still owed its scale-down counts as active.
            let active =
                doc.status.phase.is_active() || doc.status.scale_down_due(&ctx.spec()).is_some();
            if !active && !left {
                let why = format!("nothing due (state {})", doc.status.phase.as_str());
                return Ok(Some(Ended::Nothing(doc.clone(), why, None)));
            }
            // During a bake with probes, every tick runs a probe round.
            let probing = doc.status.baking() && gates::any_during_bake(ctx);
            if !left && !probing && !opts.dry_run {
                let states = read_alarms(ctx, doc.status.candidate).await?;
                let t = machine(ctx, doc, intent, &states, opts)?;
                if let Some(early) = closed(ctx, doc, intent, &t, opts)? {
                    return Ok(Some(early));
                }
                if let Outcome::Wait(until) = t.outcome {
                    return Ok(Some(Ended::Nothing(
                        doc.clone(),
                        waiting(doc, until),
                        until,
                    )));
                }
            }
        }
    }
    Ok(None)
}

/// Why a paused or complete rollout has nothing to shift.
fn held_why(doc: &StackDoc) -> String {
    match doc.status.phase {
        Phase::Paused => {
            let until = match doc.status.pause_deadline() {
                Some((at, then)) => format!(
                    " until {}, then {}; `promote` decides then, or",
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + Duration::from_millis(at)
                    ),
                    then.as_str()
                ),
                None => ";".into(),
            };
            format!(
                "paused at step {}/{} ({}){until} run `cutover continue` to apply the next step",
                doc.status.step,
                doc.status.steps.len(),
                doc.weights.map(|w| w.to_string()).unwrap_or_default()
            )
        }
        _ => "the rollout is already complete".to_string(),
    }
}

/// "nothing due" with the state, the step and when the next action is.
fn waiting(doc: &StackDoc, until: Option<u64>) -> String {
    let when = until
        .map(|u| {
            format!(
                ", next action in {}s",
                u.saturating_sub(now_ms()).div_ceil(1000)
            )
        })
        .unwrap_or_default();
    let hint = if doc.status.phase == Phase::Paused {
        "; paused until `cutover continue`"
    } else {
        ""
    };
    format!(
        "nothing due (state {}, step {}{when}{hint})",
        doc.status.phase.as_str(),
        doc.status.step
    )
}

/// `[schedule]`: outside a window or in a freeze, a transition that moves
/// traffic towards the candidate waits for the next window (`promote`, exit
/// 0) or is refused (`shift`, exit 3, unless `--ignore-schedule`). Alarms,
/// rollbacks and retirement always go; `continue` is a person's decision.
fn closed(
    ctx: &Ctx<'_>,
    doc: &StackDoc,
    intent: Intent,
    t: &Transition,
    opts: Opts<'_>,
) -> Result<Option<Ended>> {
    let Some(cal) = &ctx.cfg.schedule else {
        return Ok(None);
    };
    if intent == Intent::Continue || opts.ignore_schedule || !t.moves_up(&doc.status) {
        return Ok(None);
    }
    let now = now_ms();
    if cal.open(now) {
        return Ok(None);
    }
    let next = cal.next_open(now);
    let why = format!(
        "outside the release schedule ({}); {}",
        cal.describe(),
        cal.next_window(now)
    );
    match intent {
        Intent::Tick => Ok(Some(Ended::Nothing(
            doc.clone(),
            format!("nothing due: {why}"),
            next,
        ))),
        _ => Err(safety(format!(
            "{} refused: {why}; pass --ignore-schedule to move traffic anyway",
            intent.name()
        ))),
    }
}

/// The machine's answer to the intent with the alarms as read.
fn machine(
    ctx: &Ctx<'_>,
    doc: &StackDoc,
    intent: Intent,
    states: &[AlarmState],
    opts: Opts<'_>,
) -> Result<Transition> {
    let firing = alarms::firing(states, opts.ignore);
    rollout::apply(&ctx.spec(), &doc.status, intent.event(firing)).map_err(refusal)
}

/// `--dry-run`: reads as the real run would and says what it would do; no
/// lock, no write. Gates that send requests are named, not run.
async fn dry_run(ctx: &Ctx<'_>, intent: Intent, doc: StackDoc, opts: Opts<'_>) -> Result<Ended> {
    // The same drift check as the real run; `--adopt` changes only this copy in memory.
    let mut doc = doc;
    check_drift(ctx, &mut doc, opts.adopt).await?;
    let states = read_alarms(ctx, doc.status.candidate).await?;
    warn_insufficient(ctx, &states);
    let t = machine(ctx, &doc, intent, &states, opts)?;
    if let Some(Ended::Nothing(d, why, _)) = closed(ctx, &doc, intent, &t, opts)? {
        return Ok(Ended::Would(d, why));
    }
    let weights = |t: &Transition| {
        t.actions
            .iter()
            .find_map(|a| match a {
                rollout::Action::SetWeights(w) => Some(w.to_string()),
                _ => None,
            })
            .map(|w| format!(" ({w})"))
            .unwrap_or_default()
    };
    let mut what = match &t.outcome {
        Outcome::Wait(until) => waiting(&doc, *until),
        _ => format!("{}{}", t.note, weights(&t)),
    };
    if intent.bakes() && gates::is_next_step(&doc, &t) {
        what.push_str("; the end-of-bake gates would judge the bake first");
    }
    if let Some(e) = gates::stopped_error(&t, &doc) {
        ctx.out.info(&format!("dry run: would {what}"));
        return Err(e);
    }
    Ok(Ended::Would(doc, what))
}

/// The transaction under the lock; `Run` loops through bakes.
async fn under_lock(ctx: &Ctx<'_>, intent: Intent, opts: Opts<'_>, held: &Held) -> Result<Ended> {
    let (mut doc, mut rev) = ctx.load().await?;
    repair(ctx, &mut doc, &mut rev).await?;
    if intent == Intent::Run
        && !matches!(
            doc.status.phase,
            Phase::Ready | Phase::Shifting | Phase::Experimenting
        )
    {
        // Only a repair was owed (a paused or complete rollout).
        return Ok(Ended::Nothing(doc.clone(), held_why(&doc), None));
    }
    check_drift(ctx, &mut doc, opts.adopt).await?;
    let candidate = doc.status.candidate;
    let mut states = read_alarms(ctx, candidate).await?;
    if intent != Intent::Tick {
        warn_insufficient(ctx, &states);
    }
    let probe_every = ctx.cfg.rollout.probe_interval.map(|d| d.as_millis() as u64);
    let mut next_probe = now_ms();
    loop {
        crate::signal::check().map_err(|e| interrupted(ctx, &doc, e))?;
        let mut t = machine(ctx, &doc, intent, &states, opts)?;
        if let Some(early) = closed(ctx, &doc, intent, &t, opts)? {
            return Ok(early);
        }
        let mut probed = None;
        let mut gate_wait = None;
        if intent.bakes() {
            if gates::is_next_step(&doc, &t) {
                t = gated(ctx, &mut doc, t, Stage::BakeEnd).await?;
                if matches!(t.outcome, Outcome::Wait(_)) {
                    // What the gate found so far (an experiment's counts) is shown by `status`.
                    rev = ctx.store.save(&doc, rev).await?;
                    gate_wait = Some(t.note.clone());
                }
            } else if matches!(t.outcome, Outcome::Wait(_))
                && doc.status.baking()
                && (intent == Intent::Tick || now_ms() >= next_probe)
                && gates::any_during_bake(ctx)
            {
                next_probe = now_ms() + probe_every.unwrap_or(1000);
                let streak = doc.probe_streak;
                t = gated(ctx, &mut doc, t, Stage::DuringBake).await?;
                probed = Some(doc.probe_streak <= streak);
            }
        }
        match t.outcome {
            Outcome::Wait(until) => {
                if intent != Intent::Run {
                    if let Some(passed) = probed {
                        // The streak counts across ticks.
                        ctx.store.save(&doc, rev).await?;
                        let what = if passed { "passed" } else { "failed" };
                        return Ok(Ended::Nothing(
                            doc,
                            format!("nothing due (probes {what})"),
                            until,
                        ));
                    }
                    let why = match gate_wait {
                        Some(w) => {
                            format!("nothing due (state {}: {w})", doc.status.phase.as_str())
                        }
                        None => waiting(&doc, until),
                    };
                    return Ok(Ended::Nothing(doc, why, until));
                }
                let Some(until) = until else {
                    return Ok(Ended::Nothing(doc, "nothing due".into(), None));
                };
                bake_wait(ctx, &doc, until, probe_every.map(|_| next_probe)).await?;
            }
            _ => {
                let name = gates::event_name(&t, intent.journal_name());
                advance(ctx, &mut doc, &mut rev, &t, name).await?;
                if let Some(e) = gates::stopped_error(&t, &doc) {
                    ctx.out.ticker_done();
                    return Err(e);
                }
                let done = matches!(doc.status.phase, Phase::Paused | Phase::Complete);
                if intent != Intent::Run || done {
                    ctx.out.ticker_done();
                    return Ok(Ended::Moved(doc, t.note.clone()));
                }
            }
        }
        // Poll: alarms, and whether someone else (a rollback) changed the state.
        let (alarms_now, state_now) = tokio::join!(read_alarms(ctx, candidate), ctx.load());
        states = alarms_now?;
        let (fresh, fresh_rev) = state_now?;
        if fresh_rev != rev {
            ctx.out.ticker_done();
            return Err(safety(format!(
                "the rollout was changed by another run (now {}); this shift stops",
                fresh.status.phase.as_str()
            )));
        }
        if held.lost() {
            ctx.out.ticker_done();
            return Err(safety(
                "this stack's lock was taken by another run (a rollback) or could not be renewed; this shift stops",
            ));
        }
    }
}

/// Runs the gates of `stage`; returns the transition to commit instead (a
/// stop or a hold) when one says so.
async fn gated(
    ctx: &Ctx<'_>,
    doc: &mut StackDoc,
    t: Transition,
    stage: Stage,
) -> Result<Transition> {
    let Some(on) = gates::subject(doc) else {
        return Ok(t);
    };
    let (v, cause) = gates::run_stage(ctx, doc, stage, &on).await?;
    let shadowing = stage == Stage::BakeEnd && doc.status.phase == Phase::Shadowing;
    let t = shadow_verdict(doc, shadowing, gated_transition(ctx, doc, t, v, cause)?);
    Ok(t)
}

/// The end of a shadow phase decides its verdict: it moved on (pass), or
/// it was rolled back (fail); a hold decides nothing yet.
fn shadow_verdict(doc: &mut StackDoc, shadowing: bool, t: Transition) -> Transition {
    if let (true, Some(s)) = (shadowing, doc.shadow.as_mut()) {
        s.verdict = match t.status.phase {
            Phase::RolledBack => Some("fail".into()),
            Phase::Shadowing => None,
            _ if matches!(t.outcome, Outcome::Wait(_)) => None,
            _ => Some("pass".into()),
        };
    }
    t
}

/// The transition a verdict gives: the proposal (pass), a wait, or the
/// machine's answer to the verdict's event.
fn gated_transition(
    ctx: &Ctx<'_>,
    doc: &StackDoc,
    t: Transition,
    v: gates::Verdict,
    cause: rollout::Cause,
) -> Result<Transition> {
    if let gates::Verdict::Wait(why) = v {
        let again = now_ms() + ctx.cfg.rollout.poll_interval.as_millis() as u64;
        return Ok(Transition {
            status: doc.status.clone(),
            actions: vec![],
            outcome: Outcome::Wait(Some(again.max(now_ms() + 1000))),
            note: why,
            rejects: false,
        });
    }
    match gates::event_of(v, cause) {
        None => Ok(t),
        Some(ev) => rollout::apply(&ctx.spec(), &doc.status, ev).map_err(refusal),
    }
}

/// One nap of a bake: until the next poll, probe or the bake's end.
async fn bake_wait(
    ctx: &Ctx<'_>,
    doc: &StackDoc,
    until: u64,
    next_probe: Option<u64>,
) -> Result<()> {
    let now = now_ms();
    let left = until.saturating_sub(now);
    let what = match &doc.experiment {
        Some(r) if doc.status.phase == Phase::Experimenting && r.verdict.is_none() => {
            format!("experimenting ({}), next look in", r.reason)
        }
        _ => "baking".to_string(),
    };
    ctx.out.ticker(&format!(
        "step {}/{}: {}, {what}, {}s left",
        doc.status.step,
        doc.status.steps.len(),
        doc.weights.map(|w| w.to_string()).unwrap_or_default(),
        left.div_ceil(1000)
    ));
    let mut nap = left.min(ctx.cfg.rollout.poll_interval.as_millis() as u64);
    if let Some(p) = next_probe {
        nap = nap.min(p.saturating_sub(now));
    }
    crate::signal::pause(Duration::from_millis(nap.max(1)))
        .await
        .map_err(|e| interrupted(ctx, doc, e))
}

/// A stop request at a safe point: the weights stay, the journal says so.
fn interrupted(ctx: &Ctx<'_>, doc: &StackDoc, e: Error) -> Error {
    ctx.out.ticker_done();
    if let Error::Interrupted(code) = e {
        let w = doc.weights.map(|w| w.to_string()).unwrap_or_default();
        ctx.out.info(&format!(
            "{}: stopping at step {}; weights stay {w}; run `cutover shift` or `promote` to resume",
            crate::signal::name(code),
            doc.status.step
        ));
    }
    e
}
