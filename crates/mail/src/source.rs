//! Where messages come from: `.eml` files, mbox files and Maildir directories, found
//! recursively. Each message keeps its origin (`path`, or `path#N` for the Nth message of
//! an mbox) for reports.

use std::path::{Path, PathBuf};

/// Messages bigger than this are scanned up to this size, and say so.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;
/// Directories deeper than this are not entered (a loop or a hostile tree).
const MAX_DEPTH: usize = 32;

pub struct RawMessage {
    pub origin: String,
    pub bytes: Vec<u8>,
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct SourceError {
    pub path: String,
    pub reason: String,
}

fn err(path: &Path, reason: impl std::fmt::Display) -> SourceError {
    SourceError { path: path.display().to_string(), reason: reason.to_string() }
}

/// Calls `visit` with every message under `paths`. Unreadable entries are reported through
/// `problem` and skipped; they do not stop the walk.
pub fn walk(paths: &[PathBuf], visit: &mut dyn FnMut(RawMessage), problem: &mut dyn FnMut(SourceError)) {
    for p in paths {
        walk_one(p, 0, visit, problem);
    }
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

fn walk_one(
    path: &Path,
    depth: usize,
    visit: &mut dyn FnMut(RawMessage),
    problem: &mut dyn FnMut(SourceError),
) {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return problem(err(path, e)),
    };
    if meta.file_type().is_symlink() {
        return;
    }
    if meta.is_dir() {
        if depth >= MAX_DEPTH {
            return problem(err(path, "too deeply nested; not entered"));
        }
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => return problem(err(path, e)),
        };
        entries.sort();
        if is_maildir(path) {
            // A Maildir's messages are the files in cur/ and new/ (tmp/ is unfinished).
            for sub in ["cur", "new"] {
                let mut files: Vec<PathBuf> = std::fs::read_dir(path.join(sub))
                    .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                    .unwrap_or_default();
                files.sort();
                for f in files {
                    read_file(&f, visit, problem);
                }
            }
            for e in entries.iter().filter(|e| {
                let n = e.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                e.is_dir() && !["cur", "new", "tmp"].contains(&n.as_str())
            }) {
                walk_one(e, depth + 1, visit, problem);
            }
            return;
        }
        for e in entries {
            walk_one(&e, depth + 1, visit, problem);
        }
        return;
    }
    read_file(path, visit, problem);
}

fn read_file(path: &Path, visit: &mut dyn FnMut(RawMessage), problem: &mut dyn FnMut(SourceError)) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return problem(err(path, e)),
    };
    if bytes.is_empty() {
        return problem(err(path, "empty file"));
    }
    let origin = path.display().to_string();
    if bytes.starts_with(b"From ") {
        for (i, m) in split_mbox(&bytes).into_iter().enumerate() {
            visit(bounded(format!("{origin}#{}", i + 1), m.to_vec()));
        }
    } else {
        visit(bounded(origin, bytes));
    }
}

fn bounded(origin: String, mut bytes: Vec<u8>) -> RawMessage {
    let truncated = bytes.len() > MAX_MESSAGE_BYTES;
    bytes.truncate(MAX_MESSAGE_BYTES);
    RawMessage { origin, bytes, truncated }
}

/// Splits an mbox (mboxo/mboxrd) at `From ` lines that follow a blank line (or start the
/// file), dropping the separator line and undoing `>From ` quoting.
pub fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut prev_blank = true;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if prev_blank && line.starts_with(b"From ") {
            if let Some(m) = current.take() {
                out.push(m);
            }
            current = Some(Vec::new());
            prev_blank = false;
            continue;
        }
        let body = current.get_or_insert_with(Vec::new);
        let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        prev_blank = trimmed.is_empty();
        // mboxrd: one level of `>` before `From ` was added when the message was stored.
        let unquoted = line.strip_prefix(b">").filter(|rest| {
            let r = rest.iter().position(|&b| b != b'>').unwrap_or(rest.len());
            rest[r..].starts_with(b"From ")
        });
        body.extend_from_slice(unquoted.unwrap_or(line));
    }
    if let Some(m) = current {
        out.push(m);
    }
    out.retain(|m| m.iter().any(|b| !b.is_ascii_whitespace()));
    out
}
