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
