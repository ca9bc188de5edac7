//! The dashboard's files over plain HTTP, no browser: compression per encoding, the
//! module graph under the fingerprint, and the rules the sources keep.

use std::path::Path;

use crate::common::*;

/// Decodes a response body with the crates' decoders (flate2's GzDecoder, brotli's
/// decompressor), the inverse of the encoders the server uses.
async fn decode(coding: &str, data: Vec<u8>) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    match coding {
        "gzip" => {
            flate2::read::GzDecoder::new(&data[..])
                .read_to_end(&mut out)
                .unwrap();
        }
        "br" => {
            brotli::Decompressor::new(&data[..], 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        other => panic!("unexpected content-encoding {other}"),
    }
    out
}

async fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().get(server.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// The fingerprint index.html's references carry.
async fn fingerprint(server: &Server) -> String {
    let html = get(server, "/", &[]).await.text().await.unwrap();
    let at = html.find("/static/").expect("index references /static/") + "/static/".len();
    html[at..at + 12].to_string()
}

#[tokio::test]
async fn assets_go_out_compressed_when_accepted_each_with_its_own_etag() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let w = Workdir::new();
    let server = w.serve(&[]);
    let hash = fingerprint(&server).await;
    let page = get(&server, "/", &[]).await.bytes().await.unwrap().to_vec();
    for path in [
        "/".to_string(),
        format!("/static/{hash}/main.js"),
        format!("/static/{hash}/message.js"),
        format!("/static/{hash}/style.css"),
        "/static/style.css".to_string(),
    ] {
        let plain = match path.rsplit_once('/') {
            Some((_, "")) => page.clone(),
            Some((_, name)) => std::fs::read(root.join("assets").join(name)).unwrap(),
            None => unreachable!(),
        };
        // No Accept-Encoding (reqwest here sends none): the file as it is.
        let resp = get(&server, &path, &[]).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(header(&resp, "content-encoding"), None, "{path}");
        assert_eq!(header(&resp, "vary").as_deref(), Some("accept-encoding"));
        let identity_tag = header(&resp, "etag").unwrap();
        assert_eq!(resp.bytes().await.unwrap().to_vec(), plain, "{path}");

        let mut tags = vec![identity_tag.clone()];
        for (accept, coding) in [
            ("gzip", Some("gzip")),
            ("gzip, deflate, br, zstd", Some("br")),
            ("br;q=0, gzip", Some("gzip")),
            ("gzip;q=0.5, br;q=0.2", Some("gzip")),
            ("*", Some("br")),
            ("identity", None),
            ("deflate", None),
            ("gzip;q=0, br;q=0", None),
        ] {
            let resp = get(&server, &path, &[("accept-encoding", accept)]).await;
            assert_eq!(resp.status(), 200, "{path} {accept}");
            assert_eq!(
                header(&resp, "content-encoding").as_deref(),
                coding,
                "{path} {accept}"
            );
            assert_eq!(header(&resp, "vary").as_deref(), Some("accept-encoding"));
            let tag = header(&resp, "etag").unwrap();
            let body = resp.bytes().await.unwrap().to_vec();
            match coding {
                Some(c) => {
                    assert!(body.len() < plain.len(), "{path} {c} does not shrink");
                    assert_eq!(decode(c, body).await, plain, "{path} {c}");
                    assert_ne!(tag, identity_tag, "{path} {c}: same ETag as identity");
                    if !tags.contains(&tag) {
                        tags.push(tag.clone());
                    }
                    // Revalidation: 304 for this coding's own tag, with Vary and the tag.
                    let resp = get(
                        &server,
                        &path,
                        &[("accept-encoding", accept), ("if-none-match", &tag)],
                    )
                    .await;
                    assert_eq!(resp.status(), 304, "{path} {accept}");
                    assert_eq!(header(&resp, "etag"), Some(tag.clone()));
                    assert_eq!(header(&resp, "vary").as_deref(), Some("accept-encoding"));
                    // The identity tag names other bytes: the compressed body is sent.
                    let resp = get(
                        &server,
                        &path,
                        &[
                            ("accept-encoding", accept),
                            ("if-none-match", &identity_tag),
                        ],
                    )
                    .await;
                    assert_eq!(resp.status(), 200, "{path} {accept}");
                }
                None => {
                    assert_eq!(tag, identity_tag, "{path} {accept}");
                    assert_eq!(body, plain, "{path} {accept}");
                }
            }
        }
        assert_eq!(tags.len(), 3, "{path}: identity, gzip and br tags {tags:?}");
        let resp = get(&server, &path, &[("if-none-match", &identity_tag)]).await;
        assert_eq!(resp.status(), 304, "{path}");
    }
}

#[tokio::test]
async fn every_module_resolves_under_the_fingerprint_as_javascript() {
    let w = Workdir::new();
    let server = w.serve(&[]);
    let hash = fingerprint(&server).await;
    let html = get(&server, "/", &[]).await.text().await.unwrap();
    assert!(
        html.contains(&format!(
            "<script type=\"module\" src=\"/static/{hash}/main.js\"></script>"
        )),
        "{html}"
    );
    // Follows the relative imports from main.js, as the browser resolves them.
    let mut todo = vec!["main.js".to_string()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let resp = get(&server, &format!("/static/{hash}/{name}"), &[]).await;
        assert_eq!(resp.status(), 200, "{name}");
        assert_eq!(
            header(&resp, "content-type").as_deref(),
            Some("text/javascript; charset=utf-8"),
            "{name}"
        );
        assert!(
            header(&resp, "cache-control")
                .unwrap()
                .contains("immutable")
        );
        let csp = header(&resp, "content-security-policy").unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        let text = resp.text().await.unwrap();
        for line in text.lines().filter(|l| l.starts_with("import ")) {
            let spec = line.split('\'').nth(1).unwrap_or_default();
            let next = spec
                .strip_prefix("./")
                .unwrap_or_else(|| panic!("{name}: non-relative import {line}"));
            todo.push(next.to_string());
        }
    }
    assert!(seen.len() >= 10, "only {seen:?} reached from main.js");
}

/// The dashboard's rules as a check on the files: no HTML parsing of strings (the XSS
/// discipline of assets/dom.js) and no file over 500 lines.
#[test]
fn dashboard_sources_keep_their_rules() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display();
        assert!(text.lines().count() <= 500, "{name} is over 500 lines");
        if path.extension().is_some_and(|e| e == "js") {
            for banned in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
            ] {
                assert!(!text.contains(banned), "{name} uses {banned}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} scripts in assets/");
}
