//! Alerts appended to a file, one JSON object per line, each synced before the next.

use crate::{AlertMessage, Sink, SinkError};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct JsonLinesSink {
    path: PathBuf,
    file: File,
}

impl JsonLinesSink {
    /// Opens (or creates, readable by its owner only) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(path)?;
        Ok(Self { path: path.to_owned(), file })
    }
}

impl Sink for JsonLinesSink {
    fn name(&self) -> String {
        format!("jsonl:{}", self.path.display())
    }

    fn deliver(&mut self, msg: &AlertMessage) -> Result<(), SinkError> {
        let mut line = msg.json();
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()?;
        Ok(())
    }
}
