//! `rollguard audit …`: verify the audit log offline, sign checkpoints, show the log's key.

use crate::context::{Context, Result};
use crate::output::say;
use clap::Subcommand;
use rollguard_audit::{replay, AuditLog, NoteSigner, NoteVerifier};
use rollguard_sealing::{KekId, KeyBytes, WrapContext, WrappedKey};
use rollguard_store::{AccessStore, AuditStore, SqliteAuditStore, SystemKeyRecord, SYSTEM_KEY_AUTHORITY};
use std::path::PathBuf;
use std::time::Instant;

const SIGNING_KEY_PURPOSE: &str = "audit-checkpoint";
const DEFAULT_ORIGIN: &str = "rollguard.local/audit";

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Recompute the tree from every stored event and check every signed checkpoint, and
    /// any witnessed ones given. Reports the first index where they diverge.
    Verify {
        /// A checkpoint kept elsewhere (by a witness). Repeat for several.
        #[arg(long = "checkpoint")]
        checkpoints: Vec<PathBuf>,
        /// Verify with this key (`rollguard audit key` prints it) instead of the keyring:
        /// for an auditor who holds only the log and the key.
        #[arg(long)]
        vkey: Option<String>,
    },
    /// Sign a checkpoint of the log now and print it.
    Checkpoint {
        /// Also write it to this file (for a witness).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the log's verifier key (origin, key id, Ed25519 public key).
    Key,
}

/// The audit log's file: beside the register database unless given.
pub fn audit_path(ctx: &Context) -> PathBuf {
    let mut p = ctx.db.clone().into_os_string();
    p.push(".audit");
    PathBuf::from(p)
}

/// The log's origin (recorded in the log on first use) and its signing key (a seed wrapped
/// by the keyring, created on first use).
pub fn signer(ctx: &Context, store: &mut dyn AuditStore) -> Result<NoteSigner> {
    let origin = match store.meta("origin")? {
        Some(o) => o,
        None => {
            store.set_meta("origin", DEFAULT_ORIGIN)?;
            DEFAULT_ORIGIN.to_owned()
        }
    };
    let mut vault = ctx.open()?;
    let keyring = vault.keyring();
    let wrap_ctx =
        WrapContext { authority: SYSTEM_KEY_AUTHORITY, purpose: SIGNING_KEY_PURPOSE, generation: 1 };
    let seed = match vault.store().system_key(SIGNING_KEY_PURPOSE)? {
        Some(k) => keyring.unwrap(&WrappedKey { kek: KekId(k.kek_id), bytes: k.wrapped }, &wrap_ctx)?,
        None => {
            let seed = KeyBytes::random();
            let w = keyring.wrap(&seed, &wrap_ctx)?;
            vault.store_mut().put_system_key(&SystemKeyRecord {
                purpose: SIGNING_KEY_PURPOSE.into(),
                kek_id: w.kek.0,
                wrapped: w.bytes,
            })?;
            seed
        }
    };
    Ok(NoteSigner::from_seed(&origin, seed.expose())?)
}

pub fn run(ctx: &Context, c: AuditCmd) -> Result<()> {
    let path = audit_path(ctx);
    match c {
        AuditCmd::Verify { checkpoints, vkey } => {
            if !path.exists() {
                return Err(format!("no audit log at {}", path.display()).into());
            }
            let mut store = SqliteAuditStore::open(&path)?;
            let verifier = match vkey {
                Some(v) => NoteVerifier::parse(&v)?,
                None => signer(ctx, &mut store)?.verifier(),
            };
            let witnessed = checkpoints
                .iter()
                .map(|p| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display())))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let started = Instant::now();
            match replay(&store, &verifier, &witnessed) {
                Ok(r) => {
                    let secs = started.elapsed().as_secs_f64();
                    say!(
                        "audit log {}: {} events verified, {} stored and {} witnessed checkpoints match ({:.0} events/s)",
                        path.display(),
                        r.tree.size(),
                        r.checkpoints,
                        r.witnessed,
                        r.tree.size() as f64 / secs.max(1e-9)
                    );
                    Ok(())
                }
                Err(e) => {
                    let at = e
                        .first_divergent_index()
                        .map(|i| format!(" (first divergent index: {i})"))
                        .unwrap_or_default();
                    Err(format!("audit log {} does NOT verify: {e}{at}", path.display()).into())
                }
            }
        }
        AuditCmd::Checkpoint { out } => {
            let mut store = SqliteAuditStore::open(&path)?;
            let signer = signer(ctx, &mut store)?;
            let log = AuditLog::open(Box::new(store), signer)?;
            let note = log.checkpoint()?;
            log.close();
            if let Some(p) = out {
                std::fs::write(&p, &note)?;
            }
            say!("{note}");
            Ok(())
        }
        AuditCmd::Key => {
            let mut store = SqliteAuditStore::open(&path)?;
            say!("{}", signer(ctx, &mut store)?.verifier().vkey());
            Ok(())
        }
    }
}
