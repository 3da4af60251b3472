//! `[schedule]`: release windows in a time zone, and freezes.
use super::locate::Locator;
use super::raw::RawSchedule;
use crate::error::Result;
use crate::rollout::calendar::{self, Calendar};

pub fn check_schedule(loc: &Locator, raw: Option<&RawSchedule>) -> Result<Option<Calendar>> {
    let Some(s) = raw else { return Ok(None) };
    let mut windows = Vec::new();
    for w in s.windows.iter().flatten() {
        windows.push(calendar::window(w.get_ref()).map_err(|m| loc.at(w, "schedule.windows", m))?);
    }
    let mut freeze = Vec::new();
    for f in s.freeze.iter().flatten() {
        freeze.push(calendar::freeze(f.get_ref()).map_err(|m| loc.at(f, "schedule.freeze", m))?);
    }
    let zone = s
        .timezone
        .as_ref()
        .map(|z| z.get_ref().clone())
        .unwrap_or_else(|| "UTC".into());
    let cal = Calendar::new(windows, &zone, freeze).map_err(|m| match &s.timezone {
        Some(z) => loc.at(z, "schedule.timezone", m),
        None => loc.key("schedule.timezone", m),
    })?;
    Ok(Some(cal))
}
