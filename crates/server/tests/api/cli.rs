//! The `pennon` binary's help never shows a secret taken from the environment (clap shows environment
//! values unless told not to).

use std::process::Command;

const SECRETS: [(&str, &str); 3] = [
    ("DATABASE_URL", "postgres://u:hunter2@h/db"),
    ("PENNON_JWT_SECRET", "jwt-secret-from-the-environment"),
    ("PENNON_ADMIN_PASSWORD", "admin-password-from-the-environment"),
];

#[test]
fn help_does_not_show_secrets_from_the_environment() {
    for args in [&["serve", "--help"][..], &["serve", "-h"], &["migrate", "--help"], &["user", "create", "--help"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_pennon"))
            .args(args)
            .envs(SECRETS)
            .output()
            .expect("the pennon binary runs");
        assert!(output.status.success(), "pennon {args:?} failed: {output:?}");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("DATABASE_URL"), "pennon {args:?} names the variable:\n{help}");
        for secret in ["hunter2", "jwt-secret-from-the-environment", "admin-password-from-the-environment"] {
            assert!(!help.contains(secret), "pennon {args:?} shows {secret}:\n{help}");
        }
    }
}

/// Runs `pennon` with `args` and `envs`, killing it if it is still running after a while (a setting that
/// was wrongly accepted starts the server). Returns its exit code and everything it printed.
fn run_briefly(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pennon"))
        .args(args)
        .envs(envs.iter().copied())
        .env("RUST_BACKTRACE", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the pennon binary runs");
    for _ in 0..300 {
        if child.try_wait().expect("waits").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let output = child.wait_with_output().expect("output");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), text)
}

#[test]
fn duration_settings_out_of_range_are_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("pennon.db").display());
    let env = [("DATABASE_URL", url.as_str())];
    for (setting, value) in [
        ("--refresh-interval", "0"),
        ("--refresh-interval", "-1"),
        ("--idle-timeout", "NaN"),
        ("--session-ttl", "1e30"),
        ("--plan-tick", "1e-12"),
        ("--guard-interval", "inf"),
        ("--header-read-timeout", "1e300"),
        ("--metrics-retention", "forever"),
    ] {
        let (code, output) = run_briefly(&["serve", "--listen=127.0.0.1:0", &format!("{setting}={value}")], &env);
        assert_eq!(code, Some(2), "{setting}={value}: {output}");
        assert!(output.contains("invalid value") && output.contains(setting), "{setting}={value}: {output}");
        assert!(!output.contains("panicked"), "{setting}={value}: {output}");
    }
    let (code, output) = run_briefly(&["serve"], &[env[0], ("PENNON_WRITE_STALL_TIMEOUT", "1e20")]);
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("at most"), "{output}");
}

#[test]
fn the_database_password_is_never_logged() {
    for url in [
        "postgres://pennon:hunter2@127.0.0.1:1/pennon",
        "postgres://pennon:hunter2@127.0.0.1:bad/pennon",
        "mysql://pennon:hunter2@127.0.0.1/pennon",
    ] {
        for format in ["text", "json"] {
            let (code, output) = run_briefly(
                &["--log-format", format, "serve", "--listen=127.0.0.1:0"],
                &[("DATABASE_URL", url), ("RUST_LOG", "debug")],
            );
            assert_ne!(code, Some(0), "{url}: {output}");
            assert!(!output.is_empty());
            assert!(!output.contains("hunter2"), "{url} ({format}): {output}");
        }
    }
}
