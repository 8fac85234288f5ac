//! The terminal progress bar of `registry garbage-collect` (stages, counts, rate).

use indicatif::{ProgressBar, ProgressStyle};
use registry_core::lifecycle::gc::{Progress, Stage};

pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new() -> Bar {
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Bar { bar }
    }
}

fn counted() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg:32} [{bar:30}] {pos}/{len} ({per_sec}, {elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn open_ended() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg:32} {pos} ({per_sec}, {elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Progress for Bar {
    fn stage(&self, stage: Stage, total: Option<u64>) {
        self.bar.set_position(0);
        match total {
            Some(total) => {
                self.bar.set_style(counted());
                self.bar.set_length(total);
            }
            None => {
                self.bar.set_style(open_ended());
                self.bar.unset_length();
            }
        }
        self.bar.set_message(stage.label());
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
