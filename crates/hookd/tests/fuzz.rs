//! Svix's own description of its API, fuzzed against hookd: schemathesis generates requests
//! for all 43 operations of Svix's open-source OpenAPI document (examples, edge cases and
//! random valid inputs, from a fixed seed) and checks that every answer is one the document
//! allows: a documented status code, a body that fits the documented schema, the documented
//! content type, and never a 5xx. The document is used as Svix publishes it
//! (`../shared/reference/svix-oss-openapi.json`), with the gaps `tests/fuzz/svix_spec.py`
//! fills, each one explained there.
//!
//! `scripts/test.sh` installs schemathesis (pinned, under `target/sdks`) and sets
//! `HOOKD_SCHEMATHESIS`; the reference documents are found through `HOOKD_SVIX_SPECS` (default:
//! `../shared/reference` from the repository).

mod common;

use std::path::PathBuf;

use common::{skip, spawn_app, Backend};

on_both_backends!(no_answer_violates_svix_openapi_document);

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

    let run = tokio::process::Command::new(&st)
        .arg("run")
        .arg(&spec)
        .args(["--url", &format!("http://{}", app.addr)])
        .args(["-H", &format!("Authorization: Bearer {}", app.token)])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--mode", "positive", "--max-examples", "20", "--seed", "1", "--workers", "1"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--report-dir", &work.path().join("report").display().to_string()])
        .env("NO_COLOR", "1")
        .current_dir(work.path())
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(600), run)
        .await
        .expect("schemathesis finishes within 10 minutes")
        .expect("schemathesis starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found answers outside Svix's document:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Tested: 43"), "not every operation was tested:\n{stdout}");
    app.stop().await;
}
