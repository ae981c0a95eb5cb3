use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A progress bar on stderr when it is a terminal; hidden otherwise (scripts, CI).
pub fn bar(len: Option<u64>, what: &str) -> ProgressBar {
    let pb = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if !std::io::stderr().is_terminal() {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let template = if len.is_some() {
        "{msg:>10} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec}, eta {eta})"
    } else {
        "{msg:>10} [{elapsed_precise}] {spinner} {human_pos} ({per_sec})"
    };
    pb.set_style(ProgressStyle::with_template(template).expect("valid template"));
    pb.set_message(what.to_owned());
    pb
}
