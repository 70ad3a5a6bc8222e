use std::path::Path;
use std::process::Command;

fn main() {
    // Rebuild when a migration changes: `sqlx::migrate!` embeds them at compile time.
    println!("cargo:rerun-if-changed=migrations");
    git_commit();
}

/// Sets `WASMCRON_GIT_COMMIT` (shown by `--version` and `GET /api/v1/version`) to the
/// short hash of the checked-out commit, or to `unknown` where git or the repository
/// is missing (a source tarball): a build never fails for it. A packager without the
/// repository may set `WASMCRON_GIT_COMMIT` itself.
fn git_commit() {
    println!("cargo:rerun-if-env-changed=WASMCRON_GIT_COMMIT");
    let commit = std::env::var("WASMCRON_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=WASMCRON_GIT_COMMIT={commit}");
    // Rerun when HEAD moves: a checkout changes HEAD itself, a commit changes the ref
    // HEAD names (a loose file, or packed-refs once git packed it). A path that does
    // not exist would rerun this script on every build, so only existing ones are named.
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &head_ref]));
        watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    }
    for path in watched.into_iter().flatten() {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

/// `git <args>`'s trimmed output, run in this package's directory; `None` if git is
/// missing, fails, or prints nothing.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !text.is_empty()).then_some(text)
}
