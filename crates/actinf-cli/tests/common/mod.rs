//! What the relevance CLI tests share.

use std::process::Command;

/// Run `actinf relevance ARGS`: (success, stdout, stderr); a panic is a
/// test failure whatever the exit status.
pub fn actinf(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_actinf"))
        .arg("relevance")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        stderr,
    )
}
