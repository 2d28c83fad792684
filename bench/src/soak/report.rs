//! The soak's verdict and its section of `RESULTS.md`.

use std::path::Path;
use std::sync::atomic::Ordering;

use super::Reading;
use super::churn::Counts;
use super::ledger::Totals;

/// The heading of the section; `crate::report` keeps it when it rewrites the file.
pub const HEADING: &str = "## Soak";

pub struct Outcome<'a> {
    pub secs: u64,
    pub warmup_secs: u64,
    /// Before the warm-up (reported, not judged).
    pub cold: Reading,
    pub start: Reading,
    pub end: Reading,
    pub drained: bool,
    pub subscribers: Totals,
    pub device_personal: Totals,
    pub device_channel: Totals,
    pub channel_top: u64,
    pub counts: &'a Counts,
    pub tolerance: f64,
}

impl Outcome<'_> {
    pub fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        let limit = 1.0 + self.tolerance;
        let (rss0, rss1) = (self.start.rss_bytes as f64, self.end.rss_bytes as f64);
        if rss1 > rss0 * limit {
            f.push(format!(
                "RSS {} → {} (+{:.0} %)",
                mib(rss0),
                mib(rss1),
                growth(rss0, rss1)
            ));
        }
        let (fd0, fd1) = (self.start.fds as f64, self.end.fds as f64);
        if fd1 > fd0 * limit {
            f.push(format!("open fds {fd0} → {fd1}"));
        }
        for (what, t) in self.receivers() {
            if t.lost + t.duplicates + t.unrecovered + t.dropped > 0 {
                f.push(format!(
                    "{what}: {} lost, {} duplicated, {} resumes not recovered, {} dropped sockets",
                    t.lost, t.duplicates, t.unrecovered, t.dropped
                ));
            }
        }
        if !self.drained {
            f.push("receivers did not catch up within the drain time".into());
        }
        f
    }

    fn receivers(&self) -> [(&'static str, Totals); 3] {
        [
            ("subscribers that stayed", self.subscribers),
            ("reloading devices, personal stream", self.device_personal),
            ("reloading devices, channel", self.device_channel),
        ]
    }

    fn markdown(&self) -> String {
        let c = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let n = self.counts;
        let failures = self.failures();
        let mut s = format!(
            "{HEADING}\n\n`make soak` (`SOAK_SECS={}`): churn against one relay (`--anonymous`, release build, \
             loopback), then a {}-second settle with the same connected population as at the start. \
             The start is read after {} s of the same churn (bounded caches warm: SQLite's page cache, \
             the allocator's arenas, the password hashers' memory); RSS before it was {}. \
             Fails when RSS or open fds end more than {:.0} % above the start, or when any receiver \
             lost or got twice a message.\n\n",
            self.secs,
            super::SETTLE.as_secs(),
            self.warmup_secs,
            mib(self.cold.rss_bytes as f64),
            self.tolerance * 100.0
        );
        s += "| reading | start | end | change |\n|---|---|---|---|\n";
        let (r0, r1) = (self.start.rss_bytes as f64, self.end.rss_bytes as f64);
        s += &format!(
            "| RSS | {} | {} | {:+.1} % |\n",
            mib(r0),
            mib(r1),
            growth(r0, r1)
        );
        let (f0, f1) = (self.start.fds as f64, self.end.fds as f64);
        s += &format!("| open fds | {f0} | {f1} | {:+.1} % |\n", growth(f0, f1));
        let (s0, s1) = (self.start.store_bytes as f64, self.end.store_bytes as f64);
        s += &format!(
            "| store on disk | {} | {} | {:+.1} % |\n\n",
            mib(s0),
            mib(s1),
            growth(s0, s1)
        );
        s += "| receivers | count | received | lost | duplicated | not recovered | dropped |\n|---|---|---|---|---|---|---|\n";
        for (what, t) in self.receivers() {
            s += &format!(
                "| {what} | {} | {} | {} | {} | {} | {} |\n",
                t.receivers, t.received, t.lost, t.duplicates, t.unrecovered, t.dropped
            );
        }
        s += &format!(
            "\nChurn: {} back-end and {} client publishes to one channel (top seq {}), {} personal \
             messages, {} device reloads, {} storm connections, {} subscribe/unsubscribe pairs, \
             {} anonymous logins ({} with a Wafer tunnel), {} password logins; {} errors.\n\n",
            c(&n.api_publishes),
            c(&n.client_publishes),
            self.channel_top,
            c(&n.personal_publishes),
            c(&n.reloads),
            c(&n.storm_connections),
            c(&n.subscribes),
            c(&n.anonymous_logins),
            c(&n.tunnels),
            c(&n.password_logins),
            c(&n.errors),
        );
        if failures.is_empty() {
            s += "Verdict: **pass**.\n";
        } else {
            s += &format!("Verdict: **fail**: {}.\n", failures.join("; "));
        }
        s
    }
}

fn mib(b: f64) -> String {
    format!("{:.1} MiB", b / (1024.0 * 1024.0))
}

fn growth(a: f64, b: f64) -> f64 {
    if a > 0.0 { (b - a) / a * 100.0 } else { 0.0 }
}

/// Replaces the Soak section of `path` (or appends it), keeping every other section.
pub fn write(path: &Path, outcome: &Outcome<'_>) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let (rest, _) = split(&old);
    let mut text = rest.trim_end().to_owned();
    if !text.is_empty() {
        text += "\n\n";
    }
    text += &outcome.markdown();
    std::fs::write(path, text)?;
    eprintln!("wrote the Soak section of {}", path.display());
    Ok(())
}

/// `text` without its Soak section, and that section (empty if none). The section runs from
/// its heading to the next `## ` heading or the end.
pub fn split(text: &str) -> (String, String) {
    let Some(at) = text
        .find(&format!("\n{HEADING}\n"))
        .map(|i| i + 1)
        .or_else(|| text.starts_with(&format!("{HEADING}\n")).then_some(0))
    else {
        return (text.to_owned(), String::new());
    };
    let after = &text[at + HEADING.len()..];
    let end = after
        .find("\n## ")
        .map_or(text.len(), |i| at + HEADING.len() + i + 1);
    let mut rest = text[..at].to_owned();
    rest += &text[end..];
    (rest, text[at..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_found_and_kept_apart() {
        let doc = "# R\n\n## A\na\n\n## Soak\nold\n\n## B\nb\n";
        let (rest, section) = split(doc);
        assert_eq!(section, "## Soak\nold\n\n");
        assert_eq!(rest, "# R\n\n## A\na\n\n## B\nb\n");
        let (rest, section) = split("# R\n\n## Soak\nlast\n");
        assert_eq!(
            (rest.as_str(), section.as_str()),
            ("# R\n\n", "## Soak\nlast\n")
        );
        assert_eq!(split("# R\n").1, "");
    }
}
