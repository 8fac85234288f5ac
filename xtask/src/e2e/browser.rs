//! Headless Chromium (Debian's `chromium`) for the web-view scenario: the DOM after the page
//! loaded (`--dump-dom`) and screenshots (`--screenshot`). Each run gets a fresh profile, and
//! the flags that keep Chromium off the network (this machine's network is closed: without
//! them it tries, and waits on, Google's services).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{Result, ensure_apt};

/// How long one page may take to load and render.
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Browser {
    /// Where fresh profiles go.
    scratch: PathBuf,
    runs: std::cell::Cell<usize>,
}

impl Browser {
    /// Installs Chromium when missing.
    pub fn new(scratch: &Path) -> Result<Browser> {
        ensure_apt(&[("chromium", "chromium")])?;
        std::fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        Ok(Browser {
            scratch: scratch.to_owned(),
            runs: std::cell::Cell::new(0),
        })
    }

    /// A Chromium command with a fresh profile, and a file for its output.
    fn command(&self) -> (Command, PathBuf) {
        let run = self.runs.get();
        self.runs.set(run + 1);
        let mut command = Command::new("chromium");
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!(
                "--user-data-dir={}",
                self.scratch.join(format!("profile-{run}")).display()
            ));
        (command, self.scratch.join(format!("output-{run}")))
    }

    /// The page's DOM as serialised after it loaded (scripts run).
    pub fn dump_dom(&self, url: &str) -> Result<String> {
        let (mut command, output) = self.command();
        command.arg("--dump-dom").arg(url);
        let out = run_with_timeout(&mut command, &output, url)?;
        let dom = String::from_utf8_lossy(&out).into_owned();
        if dom.trim().is_empty() {
            return Err(format!("chromium --dump-dom {url} printed nothing"));
        }
        Ok(dom)
    }

    /// A PNG of the page at 1280 pixels wide, `height` tall.
    pub fn screenshot(&self, url: &str, file: &Path, height: u32) -> Result {
        let (mut command, output) = self.command();
        command
            .arg(format!("--window-size=1280,{height}"))
            .arg(format!("--screenshot={}", file.display()))
            .arg(url);
        run_with_timeout(&mut command, &output, url)?;
        let png = std::fs::read(file).map_err(|e| format!("screenshot {}: {e}", file.display()))?;
        if !png.starts_with(b"\x89PNG") || png.len() < 4096 {
            return Err(format!(
                "screenshot of {url} is not a plausible PNG ({} bytes)",
                png.len()
            ));
        }
        Ok(())
    }
}

/// Runs Chromium to completion within [`PAGE_TIMEOUT`]; its stdout. The output goes to a
/// file, not a pipe: Chromium's helper processes may keep a pipe open after it exits.
fn run_with_timeout(command: &mut Command, output: &Path, url: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::create(output).map_err(|e| format!("{}: {e}", output.display()))?;
    let mut child = command
        .stdout(file)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start chromium: {e}"))?;
    let deadline = Instant::now() + PAGE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "chromium did not finish {url} within {PAGE_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        return Err(format!("chromium on {url} exited with {status}"));
    }
    std::fs::read(output).map_err(|e| format!("{}: {e}", output.display()))
}
