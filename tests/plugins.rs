//! Plugin management over REST: upload, list, describe, download, replace, delete,
//! against a real server process that starts with no plugins.

mod common;

use common::tmp;
use common::{Server, ServerOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::time::Duration;

fn bare_server(data: &std::path::Path) -> Server {
    ServerOptions::new(data).without_plugin_dir().start()
}

fn bytes_of(name: &str) -> Vec<u8> {
    std::fs::read(common::plugin(name)).unwrap()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The same component with a custom section appended: valid, and a different version
/// (different sha256) of the same plugin.
fn another_version(mut wasm: Vec<u8>, note: &str) -> Vec<u8> {
    let name = b"wasmcron-test-version";
    let payload_len = 1 + name.len() + note.len();
    assert!(payload_len < 128 && name.len() < 128);
    wasm.extend_from_slice(&[0, payload_len as u8, name.len() as u8]);
    wasm.extend_from_slice(name);
    wasm.extend_from_slice(note.as_bytes());
    wasm
}

/// Replaces every `from` with `to` (same length) in the bytes.
fn patch(mut wasm: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let (from, to) = (from.as_bytes(), to.as_bytes());
    let mut i = 0;
    let mut hits = 0;
    while i + from.len() <= wasm.len() {
        if &wasm[i..i + from.len()] == from {
            wasm[i..i + from.len()].copy_from_slice(to);
            hits += 1;
        }
        i += 1;
    }
    assert!(hits > 0);
    wasm
}

/// Upload every example plugin, list, describe, download and compare, create a job on
/// an uploaded class and run it; the same bytes again change nothing.
#[tokio::test]
async fn upload_list_describe_download_and_run() {
    let dir = tmp();
    let server = bare_server(&dir.path().join("data"));
    let (_, list) = server.get("/api/v1/plugins").await;
    assert_eq!(list, json!({"plugins": []}));

    for name in [
        "simple_scheduler.jobs.sample_job",
        "wasmcron.examples.stats",
        "wasmcron.testing",
    ] {
        let wasm = bytes_of(name);
        let (status, plugin) = server
            .send_bytes(
                Method::POST,
                &format!("/api/v1/plugins/{name}"),
                wasm.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{plugin}");
        let keys: Vec<&str> = plugin
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "name",
                "sha256",
                "size",
                "uploaded_time",
                "world_version",
                "classes",
                "capabilities"
            ]
        );
        assert_eq!(plugin["sha256"], sha(&wasm));
        assert_eq!(plugin["size"], wasm.len());
        assert_eq!(plugin["world_version"], "0.3.0");

        let (status, again) = server
            .send_bytes(
                Method::POST,
                &format!("/api/v1/plugins/{name}"),
                wasm.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again, plugin, "the same bytes again change nothing");

        let resp = server
            .client
            .get(format!("{}/api/v1/plugins/{name}/wasm", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "application/wasm");
        assert_eq!(resp.bytes().await.unwrap().to_vec(), wasm);
    }
    let (_, list) = server.get("/api/v1/plugins").await;
    assert_eq!(list["plugins"].as_array().unwrap().len(), 3);
    let (_, stats) = server.get("/api/v1/plugins/wasmcron.examples.stats").await;
    assert_eq!(stats["classes"][0]["name"], "Summarize");
    assert_eq!(
        stats["classes"][0]["arguments"][0],
        json!({"name": "values", "type": "array of numbers", "description": "The numbers to summarise (at least one)."})
    );

    let (_, classes) = server.get("/api/v1/job-classes").await;
    let awesome = classes["job_classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["job_class_string"] == "simple_scheduler.jobs.sample_job.AwesomeJob")
        .unwrap()
        .clone();
    let keys: Vec<&str> = awesome
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "job_class_string",
            "notes",
            "arguments",
            "example_arguments",
            "arguments_schema"
        ]
    );
    assert_eq!(
        awesome["example_arguments"],
        r#"["first argument AAA","second argument BBB"]"#
    );

    let job = server
        .add_job(json!({"job_class_string": "wasmcron.examples.stats.Summarize", "name": "stats", "pub_args": {"values": [1, 2, 3]}, "hour": "0"}))
        .await;
    let (_, run) = server.post(&format!("/api/v1/executions/{job}"), "").await;
    let e = server
        .wait_finished(
            run["execution_id"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(e["state"], "succeeded", "{e}");
    assert_eq!(
        e["plugin_sha256"],
        sha(&bytes_of("wasmcron.examples.stats"))
    );

    let (_, logs) = server.get("/api/v1/logs").await;
    let uploads = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["event"] == "plugin_uploaded")
        .count();
    assert_eq!(uploads, 3, "re-uploads of the same bytes are not audited");
}

/// Replacing a plugin takes effect at the next run (its sha256 recorded in the
/// execution); deleting is refused while jobs use it, forced deletion leaves those
/// jobs' runs as `scheduled error`.
#[tokio::test]
async fn replace_and_delete() {
    let dir = tmp();
    let server = bare_server(&dir.path().join("data"));
    let v1 = bytes_of("wasmcron.testing");
    let v2 = another_version(v1.clone(), "v2");
    let (status, _) = server
        .send_bytes(Method::POST, "/api/v1/plugins/team.jobs", v1.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let job = server.add_job(json!({"job_class_string": "team.jobs.Echo", "name": "echo", "pub_args": [1], "hour": "0"})).await;
    let run = || async {
        let (_, run) = server.post(&format!("/api/v1/executions/{job}"), "").await;
        server
            .wait_finished(
                run["execution_id"].as_str().unwrap(),
                Duration::from_secs(10),
            )
            .await
    };
    assert_eq!(run().await["plugin_sha256"], sha(&v1));

    let (status, replaced) = server
        .send_bytes(Method::POST, "/api/v1/plugins/team.jobs", v2.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "a replacement answers 200");
    assert_eq!(replaced["sha256"], sha(&v2));
    let e = run().await;
    assert_eq!(
        (e["state"].as_str(), e["plugin_sha256"].as_str()),
        (Some("succeeded"), Some(sha(&v2).as_str()))
    );

    // In use: refused, listing the job.
    let (status, err) = server
        .call(Method::DELETE, "/api/v1/plugins/team.jobs", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let message = err["error"].as_str().unwrap();
    assert!(
        message.contains(&job) && message.contains("(echo)"),
        "{message}"
    );

    let (status, _) = server
        .call(Method::DELETE, "/api/v1/plugins/team.jobs?force=true", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = server.get("/api/v1/plugins/team.jobs").await;
    assert_eq!(
        (status, err),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "Plugin not found: team.jobs"})
        )
    );
    let e = run().await;
    assert_eq!(e["state"], "scheduled error", "{e}");
    assert!(
        e["result"]
            .as_str()
            .unwrap()
            .contains("no plugin named 'team.jobs'")
    );

    // Unused: deleted at once.
    server
        .send_bytes(
            Method::POST,
            "/api/v1/plugins/lonely",
            bytes_of("simple_scheduler.jobs.sample_job"),
        )
        .await;
    let (status, body) = server
        .call(Method::DELETE, "/api/v1/plugins/lonely", None)
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"name": "lonely"})));

    let (_, logs) = server.get("/api/v1/logs").await;
    let events: Vec<(String, String)> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["event"].as_str().unwrap().starts_with("plugin_"))
        .map(|l| {
            (
                l["event"].as_str().unwrap().to_owned(),
                l["description"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(events.len(), 5, "{events:?}");
    assert_eq!(
        events[2],
        (
            "plugin_deleted".into(),
            format!("plugin team.jobs sha256 {}", sha(&v2))
        )
    );
    assert_eq!(
        events[3],
        (
            "plugin_uploaded".into(),
            format!(
                "plugin team.jobs sha256 {} (replaces sha256 {})",
                sha(&v2),
                sha(&v1)
            )
        )
    );
}

/// A scheduled fire is prepared (claimed, its class looked up) shortly before its time:
/// one prepared before a replacement and due after it runs the new version, and after
/// a forced delete the fires fail as `scheduled error`, whenever they were prepared.
#[tokio::test]
async fn fires_due_after_a_replace_or_delete_see_it() {
    let dir = tmp();
    let server = bare_server(&dir.path().join("data"));
    let v1 = bytes_of("wasmcron.testing");
    let v2 = another_version(v1.clone(), "v2");
    let upload = |wasm: Vec<u8>| async {
        let (status, _) = server
            .send_bytes(Method::POST, "/api/v1/plugins/team.jobs", wasm)
            .await;
        assert!(status.is_success(), "{status}");
        chrono::Utc::now()
    };
    upload(v1.clone()).await;
    let job = server
        .add_job(json!({"job_class_string": "team.jobs.Echo", "name": "tick", "trigger": "interval", "trigger_params": {"interval": 1}}))
        .await;
    let started_after = |after: chrono::DateTime<chrono::Utc>| {
        let job = job.clone();
        let server = &server;
        async move {
            let mut finished = Vec::new();
            for e in server.executions_of(&job).await {
                let e = server
                    .wait_finished(e["execution_id"].as_str().unwrap(), Duration::from_secs(10))
                    .await;
                if common::time(&e["started_time"]) > after {
                    finished.push(e);
                }
            }
            finished
        }
    };
    // Replaced most of a second after a fire's time: the next fire is prepared by then.
    let first = loop {
        if let Some(e) = server.executions_of(&job).await.first() {
            break common::time(&e["scheduled_time"]);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let replace_at = first + chrono::Duration::milliseconds(1750);
    tokio::time::sleep(
        (replace_at - chrono::Utc::now())
            .to_std()
            .unwrap_or_default(),
    )
    .await;
    let replaced = upload(v2.clone()).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after_replace = started_after(replaced).await;
    assert!(after_replace.len() >= 2, "{after_replace:?}");
    for e in &after_replace {
        assert_eq!(
            (e["state"].as_str(), e["plugin_sha256"].as_str()),
            (Some("succeeded"), Some(sha(&v2).as_str())),
            "{e}"
        );
    }

    let (status, _) = server
        .call(Method::DELETE, "/api/v1/plugins/team.jobs?force=true", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let deleted = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after_delete: Vec<Value> = server
        .executions_of(&job)
        .await
        .into_iter()
        .filter(|e| common::time(&e["scheduled_time"]) > deleted)
        .collect();
    assert!(after_delete.len() >= 2, "{after_delete:?}");
    for e in &after_delete {
        let e = server
            .wait_finished(e["execution_id"].as_str().unwrap(), Duration::from_secs(10))
            .await;
        assert_eq!(e["state"], "scheduled error", "{e}");
    }
}

/// Every kind of bad upload gets a 400 with its own message, and the server serves on.
#[tokio::test]
async fn invalid_uploads_are_refused_with_their_own_message() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .without_plugin_dir()
        .arg("--max-upload-bytes")
        .arg("1000000")
        .start();
    let sample = bytes_of("simple_scheduler.jobs.sample_job");
    // A minimal WASI-style command: a core module exporting `_start`.
    let command: Vec<u8> = [
        &b"\0asm\x01\0\0\0"[..],
        &[0x01, 0x04, 0x01, 0x60, 0x00, 0x00],
        &[0x03, 0x02, 0x01, 0x00],
        &[0x07, 0x0a, 0x01, 0x06],
        b"_start",
        &[0x00, 0x00],
        &[0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b],
    ]
    .concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not-wasm",
            b"#!/bin/sh\necho hi\n".to_vec(),
            "the file is not WebAssembly",
        ),
        (
            "core",
            b"\0asm\x01\0\0\0".to_vec(),
            "the file is a core WebAssembly module that is not a WASI command",
        ),
        ("command", command, "the file is a WASI command module"),
        (
            "empty-component",
            b"\0asm\x0d\0\x01\0".to_vec(),
            "the component does not implement the wasmcron:job world",
        ),
        (
            "newer",
            patch(
                sample.clone(),
                "wasmcron:job/host@0.3.0",
                "wasmcron:job/host@0.4.0",
            ),
            "the plugin was built against wasmcron:job@0.4.0, newer than this host's wasmcron:job@0.3.0",
        ),
        (
            "foreign-import",
            patch(
                sample.clone(),
                "wasmcron:job/host@0.3.0",
                "wasmcron:job/hosx@0.3.0",
            ),
            "the plugin imports something this host does not provide",
        ),
        (
            "broken-describe",
            std::fs::read(common::test_plugin("wasmcron.testing.broken_describe")).unwrap(),
            "the plugin's describe() failed: the job panicked: describe() of this plugin always fails",
        ),
        (
            "truncated",
            sample[..sample.len() / 2].to_vec(),
            "the component is invalid",
        ),
        ("empty", Vec::new(), "the request body is empty"),
        ("bad$name", sample.clone(), "invalid plugin name 'bad$name'"),
    ];
    for (name, bytes, expected) in cases {
        let (status, body) = server
            .send_bytes(Method::POST, &format!("/api/v1/plugins/{name}"), bytes)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        let message = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {body}"));
        assert!(
            message.starts_with(expected),
            "{name}:\n  got:      {message}\n  expected: {expected}"
        );
    }
    let (status, body) = server
        .send_bytes(Method::POST, "/api/v1/plugins/too-big", vec![0; 1_000_001])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("over the upload limit of 1000000 bytes"),
        "{body}"
    );
    let (_, list) = server.get("/api/v1/plugins").await;
    assert_eq!(list, json!({"plugins": []}), "nothing was installed");
    let (status, _) = server
        .send_bytes(Method::POST, "/api/v1/plugins/ok", sample)
        .await;
    assert_eq!(status, StatusCode::CREATED, "the server still serves");
}

/// A 200 MiB upload streamed in (chunked, no length announced) is refused at the
/// limit without the server's memory growing by it.
#[tokio::test]
async fn a_huge_streamed_upload_is_refused_without_buffering_it() {
    let dir = tmp();
    let server = bare_server(&dir.path().join("data"));
    let before = server.rss_bytes();
    let addr = server.base.trim_start_matches("http://").to_owned();
    let (status_line, sent) = tokio::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(&addr).unwrap();
        socket.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(socket, "POST /api/v1/plugins/huge HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/wasm\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        // A plausible start (the Wasm magic and a component header), then zeros: only
        // the size can refuse it.
        let mut chunk = vec![0u8; 1 << 20];
        chunk[..8].copy_from_slice(b"\0asm\x0d\0\x01\0");
        let mut sent = 0usize;
        for _ in 0..200 {
            let ok = write!(socket, "100000\r\n").is_ok() && socket.write_all(&chunk).is_ok() && socket.write_all(b"\r\n").is_ok();
            if !ok {
                break;
            }
            sent += chunk.len();
        }
        let mut response = Vec::new();
        let _ = socket.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        (text.lines().next().unwrap_or_default().to_owned(), sent)
    })
    .await
    .unwrap();
    assert!(
        status_line.starts_with("HTTP/1.1 400"),
        "{status_line} after {sent} bytes"
    );
    let grown = server.rss_bytes().saturating_sub(before);
    assert!(grown < 100 << 20, "the server grew by {grown} bytes");
    // An announced length over the limit is refused before any byte is read.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut socket = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        socket,
        "POST /api/v1/plugins/huge HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 209715200\r\n\r\n"
    )
    .unwrap();
    let mut buf = [0u8; 12];
    socket.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 400");
    let (status, _) = server.get("/api/v1/plugins").await;
    assert_eq!(status, StatusCode::OK);
}

/// A restart keeps every plugin, loading them from their cached artifacts without
/// compiling again.
#[tokio::test]
async fn a_restart_keeps_plugins_without_recompiling() {
    let dir = tmp();
    let data = dir.path().join("data");
    let mut server = bare_server(&data);
    for name in ["simple_scheduler.jobs.sample_job", "wasmcron.testing"] {
        server
            .send_bytes(
                Method::POST,
                &format!("/api/v1/plugins/{name}"),
                bytes_of(name),
            )
            .await;
    }
    let job = server.add_job(json!({"job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "name": "a", "hour": "0"})).await;
    let cache = |data: &std::path::Path| {
        let mut files: Vec<(String, std::time::SystemTime)> = std::fs::read_dir(data.join("cache"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().modified().unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let artifacts = cache(&data);
    // Per plugin, its compiled artifact and beside it the pool needs read from its
    // bytes, so that loading the artifact need not read them again.
    let names: Vec<&str> = artifacts.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for artifact in names.iter().filter_map(|n| n.strip_suffix(".cwasm")) {
        assert!(
            names.contains(&format!("{artifact}.needs").as_str()),
            "{names:?}"
        );
    }
    server.terminate(Duration::from_secs(10));

    let server = bare_server(&data);
    let (_, list) = server.get("/api/v1/plugins").await;
    assert_eq!(list["plugins"].as_array().unwrap().len(), 2);
    assert_eq!(
        cache(&data),
        artifacts,
        "an artifact was rewritten: a plugin was compiled again"
    );
    assert!(!server.stderr().contains("recompiling"));
    let (_, run) = server.post(&format!("/api/v1/executions/{job}"), "").await;
    let e = server
        .wait_finished(
            run["execution_id"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(e["state"], "succeeded");
}

/// Two concurrent uploads to one name leave one consistent plugin: its row, its
/// bytes and its classes all come from the same upload.
#[tokio::test]
async fn concurrent_uploads_of_one_name_stay_consistent() {
    let dir = tmp();
    let server = bare_server(&dir.path().join("data"));
    let a = bytes_of("simple_scheduler.jobs.sample_job");
    let b = bytes_of("wasmcron.examples.stats");
    for round in 0..3 {
        let path = format!("/api/v1/plugins/contested{round}");
        let (ra, rb) = tokio::join!(
            server.send_bytes(Method::POST, &path, a.clone()),
            server.send_bytes(Method::POST, &path, b.clone())
        );
        let mut statuses = [ra.0, rb.0];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CREATED]);
        let (_, plugin) = server.get(&path).await;
        let bytes = server
            .client
            .get(format!("{}{path}/wasm", server.base))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        assert_eq!(plugin["sha256"], sha(&bytes));
        let first_class = plugin["classes"][0]["name"].clone();
        if bytes == a {
            assert_eq!(first_class, "AwesomeJob");
        } else {
            assert_eq!(bytes, b);
            assert_eq!(first_class, "Summarize");
        }
        let (_, classes) = server.get("/api/v1/job-classes").await;
        let mine: Vec<&Value> = classes["job_classes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                c["job_class_string"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("contested{round}."))
            })
            .collect();
        assert_eq!(
            mine[0]["job_class_string"],
            format!("contested{round}.{}", first_class.as_str().unwrap())
        );
    }
}

/// The database keeps each installed plugin's bytes, from which a host without the
/// file installs it; a database written before it kept them (the bytes only in the data
/// directory) opens with every plugin, its bytes copied in at start.
#[tokio::test]
async fn plugin_bytes_live_in_the_database_and_older_data_directories_fill_them_in() {
    let dir = tmp();
    let data = dir.path().join("data");
    let mut server = bare_server(&data);
    let wasm = bytes_of("simple_scheduler.jobs.sample_job");
    let (status, _) = server
        .send_bytes(Method::POST, "/api/v1/plugins/sample", wasm.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let job = server
        .add_job(json!({"job_class_string": "sample.AwesomeJob", "name": "a", "hour": "0"}))
        .await;
    server.terminate(Duration::from_secs(10));
    let stored = async || -> Vec<Vec<u8>> {
        let db = common::database::connect(&data).await;
        let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT wasm FROM plugin_bytes")
            .fetch_all(&db)
            .await
            .unwrap();
        db.close().await;
        rows
    };
    assert_eq!(stored().await, vec![wasm.clone()]);

    // As the previous version left it: no bytes in the database.
    let db = common::database::connect(&data).await;
    sqlx::query("DELETE FROM plugin_bytes")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let mut server = bare_server(&data);
    let e = server
        .wait_finished(&server.run_now(&job).await, Duration::from_secs(10))
        .await;
    assert_eq!(e["state"], "succeeded", "{e}");
    server.terminate(Duration::from_secs(10));
    assert_eq!(
        stored().await,
        vec![wasm.clone()],
        "the bytes were not copied in"
    );

    // The data directory's copy lost: installed from the database's bytes, and a copy
    // kept again.
    let file = data.join("plugins").join(format!("{}.wasm", sha(&wasm)));
    std::fs::remove_file(&file).unwrap();
    let server = bare_server(&data);
    let e = server
        .wait_finished(&server.run_now(&job).await, Duration::from_secs(10))
        .await;
    assert_eq!(e["state"], "succeeded", "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), wasm);
    assert_eq!(
        server.get_bytes("/api/v1/plugins/sample/wasm").await,
        (StatusCode::OK, wasm)
    );
}

/// A plain WASI command plugin is uploaded and run like any other.
#[tokio::test]
async fn a_wasi_command_plugin_through_the_api() {
    let dir = tmp();
    let server = bare_server(&dir.path().join("data"));
    let wasm = bytes_of("wasmcron.examples.text_command");
    let (status, plugin) = server
        .send_bytes(Method::POST, "/api/v1/plugins/text", wasm)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plugin}");
    assert_eq!(plugin["world_version"], "wasi-command");
    assert_eq!(plugin["classes"][0]["name"], "TextStats");
    let job = server
        .add_job(json!({"job_class_string": "text.TextStats", "name": "measure", "pub_args": {"text": "one two\nthree"}, "hour": "0"}))
        .await;
    let (_, run) = server.post(&format!("/api/v1/executions/{job}"), "").await;
    let e = server
        .wait_finished(
            run["execution_id"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(e["state"], "succeeded", "{e}");
    assert_eq!(
        e["result"],
        "{\n    \"chars\": 13,\n    \"lines\": 2,\n    \"longest_line\": \"one two\",\n    \"words\": 3\n}"
    );
}

/// The CLI's plugin commands are clients of the API.
#[tokio::test]
async fn cli_plugin_push_list_rm() {
    let dir = tmp();
    let server = bare_server(&dir.path().join("data"));
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(common::binary())
            .arg("plugin")
            .args(args)
            .args(["--server", &server.base])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let file = common::plugin("simple_scheduler.jobs.sample_job");
    let (code, out, err) = cli(&["push", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("\"name\": \"simple_scheduler.jobs.sample_job\""),
        "{out}"
    );
    let (code, _, _) = cli(&["push", file.to_str().unwrap(), "--name", "renamed"]);
    assert_eq!(code, Some(0));
    let (code, out, _) = cli(&["list"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("\"renamed\"") && out.contains("AwesomeJob"),
        "{out}"
    );
    let (code, _, _) = cli(&["rm", "renamed"]);
    assert_eq!(code, Some(0));
    let (code, _, err) = cli(&["rm", "renamed"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("Plugin not found: renamed"), "{err}");
}
