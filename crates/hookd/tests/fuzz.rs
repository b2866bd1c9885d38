//! Svix's own description of its API, fuzzed against hookd: schemathesis generates requests
//! for all 43 operations of Svix's open-source OpenAPI document (examples, edge cases and
//! random valid inputs, from a fixed seed) and checks that every answer is one the document
//! allows: a documented status code, a body that fits the documented schema, the documented
//! content type, and never a 5xx. The document is used as Svix publishes it
//! (`../shared/reference/svix-oss-openapi.json`), with the gaps `tests/fuzz/svix_spec.py`
//! fills, each one explained there. hookd's own document (generated from its code) is fuzzed
//! the same way, so a wire type and its schema cannot drift apart unnoticed.
//!
//! `scripts/test.sh` installs schemathesis (pinned, under `target/sdks`) and sets
//! `HOOKD_SCHEMATHESIS`; the reference documents are found through `HOOKD_SVIX_SPECS` (default:
//! `../shared/reference` from the repository).

mod common;

use std::path::PathBuf;

use common::{skip, spawn_app, Backend};

on_both_backends!(no_answer_violates_svix_openapi_document, no_answer_violates_hookd_openapi_document);

fn specs_dir() -> PathBuf {
    match std::env::var_os("HOOKD_SVIX_SPECS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference"),
    }
}

async fn no_answer_violates_svix_openapi_document(backend: Backend) {
    let (Some(st), Some(python)) = (std::env::var_os("HOOKD_SCHEMATHESIS"), std::env::var_os("HOOKD_SDK_PYTHON"))
    else {
        return skip("HOOKD_SCHEMATHESIS and HOOKD_SDK_PYTHON are not set; scripts/test.sh sets them");
    };
    let dir = specs_dir();
    let (oss, sdk) = (dir.join("svix-oss-openapi.json"), dir.join("svix-sdk-openapi.json"));
    if !oss.exists() || !sdk.exists() {
        return skip(&format!("Svix's OpenAPI documents are not in {} (HOOKD_SVIX_SPECS)", dir.display()));
    }
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let spec = work.path().join("svix.json");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/svix_spec.py");
    let made =
        tokio::process::Command::new(&python).arg(&script).arg(&oss).arg(&sdk).arg(&spec).output().await.unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));

    let stdout = schemathesis(&st, &app, &spec.display().to_string(), 20, &[], work.path()).await;
    assert!(stdout.contains("Tested: 43"), "not every operation was tested:\n{stdout}");
    app.stop().await;
}

/// hookd's own document, as served (generated from the code: `crates/server/src/openapi`),
/// fuzzed the same way: every answer is one the document allows. The capture URLs are left
/// out: they answer with whatever status their inbox is told to (the fuzzer sets some to
/// 5xx), so "never a 5xx" does not hold there by design; `tests/tester.rs` covers them.
async fn no_answer_violates_hookd_openapi_document(backend: Backend) {
    let Some(st) = std::env::var_os("HOOKD_SCHEMATHESIS") else {
        return skip("HOOKD_SCHEMATHESIS is not set; scripts/test.sh sets it");
    };
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let spec = format!("http://{}/api/v1/openapi.json", app.addr);
    // Fewer random cases than for Svix's 43 operations: the coverage phase already sends each
    // of the 104 its edge cases, and 20 random ones each took three minutes.
    let stdout = schemathesis(&st, &app, &spec, 5, &["--exclude-path-regex", "^/in/"], work.path()).await;
    // Every operation schemathesis selected (all but the capture URL's) was tested.
    let selected = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("Selected: "))
        .and_then(|s| s.split('/').next())
        .and_then(|n| n.parse::<usize>().ok())
        .expect("schemathesis reports the operations selected");
    assert!(selected > 100, "{stdout}");
    assert!(stdout.contains(&format!("Tested: {selected}\n")), "not every operation was tested:\n{stdout}");
    app.stop().await;
}

/// Runs schemathesis against `app` with a fixed seed and the checks that every answer is a
/// documented one and never a 5xx; returns its report, or fails with it.
async fn schemathesis(
    st: &std::ffi::OsStr,
    app: &common::TestApp,
    spec: &str,
    max_examples: u32,
    extra: &[&str],
    work: &std::path::Path,
) -> String {
    let run = tokio::process::Command::new(st)
        .arg("run")
        .arg(spec)
        .args(["--url", &format!("http://{}", app.addr)])
        .args(["-H", &format!("Authorization: Bearer {}", app.token)])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--mode", "positive", "--max-examples", &max_examples.to_string(), "--seed", "1", "--workers", "1"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--report-dir", &work.join("report").display().to_string()])
        .args(extra)
        .env("NO_COLOR", "1")
        .current_dir(work)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(600), run)
        .await
        .expect("schemathesis finishes within 10 minutes")
        .expect("schemathesis starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "schemathesis found answers outside the document:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
