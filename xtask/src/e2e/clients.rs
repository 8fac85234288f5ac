//! The real clients: skopeo and the Python `oras` package.

use std::path::Path;
use std::process::{Command, Output};

use crate::process::{Result, run};

pub fn ensure_oras() -> Result {
    let installed = Command::new("python3")
        .args(["-c", "import oras.client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    run(Command::new("python3").args(["-m", "pip", "install", "--quiet", "oras"]))
}

fn output(command: &mut Command) -> Result<Output> {
    let shown = format!("{command:?}");
    let out = command
        .output()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

pub fn skopeo(args: &[&str]) -> Result<String> {
    let out = output(Command::new("skopeo").args(args))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn skopeo_copy(from: &str, to: &str, extra: &[&str]) -> Result {
    let mut args = vec!["copy", "--src-tls-verify=false", "--dest-tls-verify=false"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[from, to]);
    skopeo(&args).map(|_| ())
}

/// `skopeo copy` that returns the digest of the manifest skopeo wrote to `to` (what the client
/// sent, independent of what the registry later serves).
pub fn skopeo_copy_digest(from: &str, to: &str, extra: &[&str], scratch: &Path) -> Result<String> {
    std::fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let file = scratch.join(format!("digest-{}", std::process::id()));
    let file_arg = file.display().to_string();
    let mut args: Vec<&str> = vec!["--digestfile", &file_arg];
    args.extend_from_slice(extra);
    skopeo_copy(from, to, &args)?;
    let digest = std::fs::read_to_string(&file).map_err(|e| format!("skopeo --digestfile: {e}"))?;
    let _ = std::fs::remove_file(&file);
    Ok(digest.trim().to_owned())
}

pub fn oras_round_trip(
    host: &str,
    target: &str,
    workdir: &Path,
    size: usize,
    chunk: Option<usize>,
) -> Result {
    oras_round_trip_as(host, target, workdir, size, chunk, None)
}

/// Pushes an artifact of `size` bytes to `push_host` with oras and pulls it back from
/// `pull_host` (a pull-through cache of `push_host`), checking the bytes.
pub fn oras_round_trip_through(
    push_host: &str,
    pull_host: &str,
    target: &str,
    workdir: &Path,
    size: usize,
) -> Result {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/oras_roundtrip.py");
    let out = output(
        Command::new("python3")
            .arg(script)
            .arg(push_host)
            .arg(target)
            .arg(workdir)
            .arg(size.to_string())
            .arg("--pull-host")
            .arg(pull_host),
    )?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}

/// `oras_round_trip` with Basic credentials `(user, password)` (the password goes on stdin).
pub fn oras_round_trip_as(
    host: &str,
    target: &str,
    workdir: &Path,
    size: usize,
    chunk: Option<usize>,
    basic: Option<(&str, &str)>,
) -> Result {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/oras_roundtrip.py");
    let mut command = Command::new("python3");
    command
        .arg(script)
        .arg(host)
        .arg(target)
        .arg(workdir)
        .arg(size.to_string());
    if let Some(chunk) = chunk {
        command.arg("--chunked").arg(chunk.to_string());
    }
    let mut input = String::new();
    if let Some((user, password)) = basic {
        command.arg("--basic").arg(user);
        input = format!("{password}\n");
    }
    let out = output_with_input(&mut command, &input)?;
    if !out.status.success() {
        return Err(format!(
            "oras round trip to {host}/{target} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    print!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}

/// Runs `command` with `input` on stdin; its output whatever the exit status.
pub fn output_with_input(command: &mut Command, input: &str) -> Result<Output> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("writing to {:?}: {e}", command.get_program()))?;
    }
    child
        .wait_with_output()
        .map_err(|e| format!("{:?}: {e}", command.get_program()))
}

/// skopeo with `input` on stdin (`login --password-stdin`); stdout, or an error with stderr.
pub fn skopeo_with_input(args: &[&str], input: &str) -> Result<String> {
    let out = output_with_input(Command::new("skopeo").args(args), input)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "skopeo {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
