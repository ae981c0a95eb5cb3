//! Detection's settings and the handle the server shares with its detection thread
//! (`detection.rs`), apart from the thread so the server's state can hold it without the
//! thread's code.

use rollguard_alerts::{Dispatcher, SinkSpec};
use rollguard_detect::{EnrichConfig, RuleError, RuleSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How detection is set up.
pub struct DetectionConfig {
    /// Sigma rules directory; `None` runs the rules Rollguard ships.
    pub rules_dir: Option<PathBuf>,
    /// How often the rules directory is checked for changes.
    pub reload_every: Duration,
    pub enrich: EnrichConfig,
    pub sinks: Vec<SinkSpec>,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        Self {
            rules_dir: None,
            reload_every: Duration::from_secs(2),
            enrich: EnrichConfig::default(),
            sinks: Vec::new(),
        }
    }
}

/// What the server shares with its detection thread: the settings, the sinks, the channel
/// for new rule sets, and what the thread reports.
pub struct Detection {
    pub(crate) rules_dir: Option<PathBuf>,
    pub(crate) reload_every: Duration,
    pub(crate) enrich: Mutex<Option<EnrichConfig>>,
    pub(crate) dispatcher: Dispatcher,
    /// New rule sets for the detection thread.
    pub(crate) commands: Mutex<Option<std::sync::mpsc::Sender<RuleSet>>>,
    pub(crate) started: AtomicBool,
    pub(crate) stop: AtomicBool,
    /// Problems with the rules last loaded, for `GET /api/v1/detection/rules`.
    pub rule_errors: Mutex<Vec<RuleError>>,
    pub rules_loaded: AtomicU64,
    pub alerts_raised: AtomicU64,
    /// The log index detection has processed up to.
    pub position: AtomicU64,
}

impl Detection {
    pub fn new(config: DetectionConfig) -> Self {
        let mut dispatcher = Dispatcher::default();
        for s in config.sinks {
            dispatcher.add(s.sink, s.min_level);
        }
        Self {
            rules_dir: config.rules_dir,
            reload_every: config.reload_every,
            enrich: Mutex::new(Some(config.enrich)),
            dispatcher,
            commands: Mutex::new(None),
            started: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            rule_errors: Mutex::new(Vec::new()),
            rules_loaded: AtomicU64::new(0),
            alerts_raised: AtomicU64::new(0),
            position: AtomicU64::new(0),
        }
    }

    /// Loads the rules (directory or shipped).
    pub fn load_rules(&self) -> RuleSet {
        match &self.rules_dir {
            None => RuleSet::shipped(),
            Some(dir) => RuleSet::load_dir(dir).unwrap_or_else(|e| {
                let mut s = RuleSet::default();
                s.errors.push(RuleError {
                    file: dir.display().to_string(),
                    line: 0,
                    reason: format!("cannot read: {e}"),
                });
                s
            }),
        }
    }

    /// Loads the rules again now (the reload endpoint); returns (loaded, errors).
    pub fn reload(&self) -> (usize, Vec<RuleError>) {
        let set = self.load_rules();
        let out = (set.len(), set.errors.clone());
        self.note_rules(&set);
        if let Some(tx) = self.commands.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = tx.send(set);
        }
        out
    }

    pub(crate) fn note_rules(&self, set: &RuleSet) {
        for e in &set.errors {
            tracing::warn!(rule_file = %e.file, line = e.line, reason = %e.reason, "rule refused");
        }
        self.rules_loaded.store(set.len() as u64, Ordering::Relaxed);
        *self.rule_errors.lock().unwrap_or_else(|p| p.into_inner()) = set.errors.clone();
    }

    /// Asks the detection thread to finish.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
