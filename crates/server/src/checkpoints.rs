//! Signed checkpoints: one whenever the audit log has grown, every `checkpoint_every`, and
//! one when the server stops; each handed to the witnesses. An operator who later rewrites
//! the log is caught against a witnessed copy (`rollguard audit verify --checkpoint FILE`).

use crate::state::AppState;
use std::sync::Arc;

pub(crate) fn spawn(state: &Arc<AppState>) {
    let (log, register) = (state.log.clone(), state.service.register().clone());
    let (every, dir, url) =
        (state.config.checkpoint_every, state.config.witness_dir.clone(), state.config.witness_url.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut signed = u64::MAX;
        loop {
            tick.tick().await;
            if log.size() == signed {
                continue;
            }
            let (l, r, dir, url) = (log.clone(), register.clone(), dir.clone(), url.clone());
            let done = tokio::task::spawn_blocking(move || -> Result<u64, String> {
                let note = l.checkpoint(&r).map_err(|e| e.to_string())?;
                let size = l.size();
                witness(&note, size, dir.as_deref(), url.as_deref());
                Ok(size)
            })
            .await;
            match done {
                Ok(Ok(size)) => signed = size,
                Ok(Err(e)) => tracing::error!(error = %e, "signing an audit checkpoint failed"),
                Err(_) => tracing::error!("the checkpoint task panicked"),
            }
        }
    });
}

/// Signs a checkpoint covering every sequenced event (called after the sequencer drained).
pub(crate) async fn final_checkpoint(state: &Arc<AppState>) {
    let (log, register) = (state.log.clone(), state.service.register().clone());
    let (dir, url) = (state.config.witness_dir.clone(), state.config.witness_url.clone());
    let signed = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let note = log.checkpoint(&register).map_err(|e| e.to_string())?;
        witness(&note, log.size(), dir.as_deref(), url.as_deref());
        Ok(())
    })
    .await;
    match signed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "signing the final audit checkpoint failed"),
        Err(_) => tracing::error!("the final checkpoint task panicked"),
    }
}

/// Hands a checkpoint to the witnesses; a witness that cannot be reached is logged, and the
/// next checkpoint tries again.
pub fn witness(note: &str, size: u64, dir: Option<&std::path::Path>, url: Option<&str>) {
    if let Some(dir) = dir {
        let tmp = dir.join(format!(".checkpoint-{size}.tmp"));
        let dest = dir.join(format!("checkpoint-{size:012}"));
        if let Err(e) = std::fs::write(&tmp, note).and_then(|_| std::fs::rename(&tmp, &dest)) {
            tracing::error!(error = %e, "writing a checkpoint to the witness directory");
        }
    }
    if let Some(url) = url {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .build()
            .into();
        if let Err(e) = agent.post(url).header("content-type", "text/plain; charset=utf-8").send(note) {
            tracing::error!(error = %e, "posting a checkpoint to the witness");
        }
    }
}
