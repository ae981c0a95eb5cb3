//! Standard output that ends quietly when the reader goes away (`rollguard … | head`),
//! instead of panicking on a broken pipe.

use std::io::{ErrorKind, Write};

pub fn line(args: std::fmt::Arguments<'_>) {
    if let Err(e) = writeln!(std::io::stdout().lock(), "{args}") {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("rollguard: writing to standard output: {e}");
        std::process::exit(1);
    }
}

/// `println!` for the CLI: see [`line`].
macro_rules! say {
    () => { $crate::output::line(format_args!("")) };
    ($($t:tt)*) => { $crate::output::line(format_args!($($t)*)) };
}
pub(crate) use say;
