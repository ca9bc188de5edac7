//! Two servers on one data directory: the second refuses to start; CLI commands keep
//! working beside the running one.

mod common;

use common::*;

#[tokio::test]
async fn a_second_serve_on_the_same_directory_refuses_to_start() {
    let w = Workdir::new();
    let mut first = w.serve(&[]);

    let out = Server::expect_exit_within(&w, &[], std::time::Duration::from_secs(20));
    assert!(!out.status.success(), "second serve started");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already running") && stderr.contains("serve.lock"),
        "unclear error: {stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("listening on"),
        "second serve bound a port"
    );

    // The CLI works on the database beside the running server.
    w.add_channel("facebook", "--page-id", "111");
    let list = w.run(&["channel", "list"]);
    assert!(list.status.success());
    assert!(String::from_utf8_lossy(&list.stdout).contains("111"));

    // The first server is unharmed.
    let resp = client().get(first.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    // Once it stopped, the directory is free again.
    assert!(first.terminate().success());
    let again = w.serve(&[]);
    let resp = client().get(again.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn servers_on_different_directories_run_side_by_side() {
    let a = Workdir::new();
    let b = Workdir::new();
    let sa = a.serve(&[]);
    let sb = b.serve(&[]);
    for s in [&sa, &sb] {
        let resp = client().get(s.url("/healthz")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
}
