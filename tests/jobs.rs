//! Background jobs end to end: media downloads (Messenger/Instagram CDN links, WhatsApp
//! two-step media), profiles, retries, Graph error classification, integrity and size
//! limits, the SSRF guard, redirects, crash recovery, and that the access token never
//! reaches the logs. Graph and the CDN are a local fake (`common::fake_graph`).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use common::fake_graph::{FakeGraph, Recorded, Resp};
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PAGE: &str = "1111111111";
const PSID: &str = "2222222222";
const IG_ACCOUNT: &str = "17841400000000001";
const IG_USER: &str = "3333333333";
const PHONE_ID: &str = "106540352242922";
const WA_ID: &str = "16505551234";
const TOKEN: &str = "test-page-token";
const SETTLE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------
// Setup

/// A workdir with the three test channels, the test admin, jobs on, Graph and the CDN
/// pointed at the fake, and debug logging (so the token check sees everything).
fn workdir(fake: &FakeGraph, allow_private: bool) -> Workdir {
    let mut w = Workdir::new();
    w.set_env("HELPSTACK_JOB_WORKERS", "2")
        .set_env("HELPSTACK_GRAPH_API_URL", &fake.graph_base())
        .set_env(
            "HELPSTACK_ALLOW_PRIVATE_MEDIA_HOSTS",
            if allow_private { "true" } else { "false" },
        )
        .set_env("RUST_LOG", "debug");
    create_admin(&w);
    w.add_channel("facebook", "--page-id", PAGE);
    w.add_channel("instagram", "--account-id", IG_ACCOUNT);
    w.add_channel("whatsapp", "--phone-number-id", PHONE_ID);
    w
}

// ---------------------------------------------------------------------------------
// Webhook bodies

fn fb_image(mid: &str, url: &str) -> Vec<u8> {
    messaging_body("page", PAGE, PSID, mid, image_attachment(url))
}

fn ig_image(mid: &str, url: &str) -> Vec<u8> {
    messaging_body("instagram", IG_ACCOUNT, IG_USER, mid, image_attachment(url))
}

fn image_attachment(url: &str) -> Value {
    json!({"attachments": [{"type": "image", "payload": {"url": url}}]})
}

fn messaging_body(object: &str, recipient: &str, sender: &str, mid: &str, msg: Value) -> Vec<u8> {
    let mut message = msg;
    message["mid"] = json!(mid);
    serde_json::to_vec(&json!({
        "object": object,
        "entry": [{
            "id": recipient,
            "time": 1767262200000i64,
            "messaging": [{
                "sender": {"id": sender},
                "recipient": {"id": recipient},
                "timestamp": 1767262200000i64,
                "message": message
            }]
        }]
    }))
    .unwrap()
}

fn fb_text(mid: &str, text: &str) -> Vec<u8> {
    messaging_body("page", PAGE, PSID, mid, json!({"text": text}))
}

fn ig_text(mid: &str, text: &str) -> Vec<u8> {
    messaging_body("instagram", IG_ACCOUNT, IG_USER, mid, json!({"text": text}))
}

/// A WhatsApp Cloud API message body of type `ty` (`text`, `image`, `document`, ...).
fn wa_message(wamid: &str, ty: &str, content: Value) -> Vec<u8> {
    let mut message = json!({
        "from": WA_ID,
        "id": wamid,
        "timestamp": "1767434460",
        "type": ty,
    });
    message[ty] = content;
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": "15550783881",
                        "phone_number_id": PHONE_ID
                    },
                    "contacts": [{"profile": {"name": "Ana Souza"}, "wa_id": WA_ID}],
                    "messages": [message]
                }
            }]
        }]
    }))
    .unwrap()
}

/// What `GET /{media-id}` answers.
fn media_info(fake: &FakeGraph, media_id: &str, mime: &str, sha_b64: &str, size: Value) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "url": wa_cdn_url(fake, media_id),
        "mime_type": mime,
        "sha256": sha_b64,
        "file_size": size,
        "id": media_id
    })
}

/// The lookaside-like URL of a WhatsApp media object on the fake CDN.
fn wa_cdn_url(fake: &FakeGraph, media_id: &str) -> String {
    format!(
        "{}{}?mid={media_id}&ext=1767434460&hash=ATuXkZr1y2w3",
        fake.url(),
        wa_cdn_path(media_id)
    )
}

fn wa_cdn_path(media_id: &str) -> String {
    format!("/cdn/wa/{media_id}")
}

async fn post(server: &Server, provider: &str, body: &[u8]) {
    let resp = post_signed(server, provider, body).await;
    assert_eq!(resp.status(), 200, "webhook POST to {provider}");
}

// ---------------------------------------------------------------------------------
// Bytes and files

/// Deterministic, seed-specific content after a format's magic bytes.
fn content(magic: &[u8], seed: u8, len: usize) -> Vec<u8> {
    let mut v = magic.to_vec();
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.push((x >> 8) as u8);
    }
    v.truncate(len);
    v
}

const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
const PDF: &[u8] = b"%PDF-1.7\n";
const OGG: &[u8] = b"OggS\x00\x02";

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn sha_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

fn attachments_dir(w: &Workdir) -> PathBuf {
    w.path().join("helpstack-data/attachments")
}

/// Where the product keeps bytes with this SHA-256: `attachments/ab/cd/<hex>`.
fn stored_path(w: &Workdir, hex: &str) -> PathBuf {
    attachments_dir(w)
        .join(&hex[0..2])
        .join(&hex[2..4])
        .join(hex)
}

/// Every regular file under a directory, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn assert_stored_on_disk(w: &Workdir, bytes: &[u8]) {
    let path = stored_path(w, &sha_hex(bytes));
    let on_disk = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("no stored file at {}: {e}", path.display()));
    assert_eq!(sha_hex(&on_disk), sha_hex(bytes), "{}", path.display());
}

// ---------------------------------------------------------------------------------
// API

async fn conversations(server: &Server, cookie: &str) -> Vec<Value> {
    get_json(server, cookie, "/api/conversations?limit=200").await["conversations"]
        .as_array()
        .unwrap()
        .clone()
}

async fn find_message(server: &Server, cookie: &str, external_id: &str) -> Option<Value> {
    for c in conversations(server, cookie).await {
        let id = c["id"].as_i64().unwrap();
        let path = format!("/api/conversations/{id}/messages?limit=200");
        let msgs = get_json(server, cookie, &path).await["messages"]
            .as_array()
            .unwrap()
            .clone();
        if let Some(m) = msgs.into_iter().find(|m| m["external_id"] == external_id) {
            return Some(m);
        }
    }
    None
}

/// Polls the API until the message exists and none of its attachments is pending;
/// returns the message.
async fn settled(server: &Server, cookie: &str, external_id: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let m = find_message(server, cookie, external_id).await;
        if let Some(m) = &m {
            let atts = m["attachments"].as_array().unwrap();
            if !atts.is_empty() && atts.iter().all(|a| a["status"] != "pending") {
                return m.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "attachments of {external_id} still pending after {timeout:?}: {m:#?}\nserver log tail:\n{}",
            tail(&server.stderr_text())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The single attachment of a message, once settled.
async fn settled_attachment(server: &Server, cookie: &str, external_id: &str) -> Value {
    let m = settled(server, cookie, external_id, SETTLE).await;
    let atts = m["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 1, "{m:#}");
    atts[0].clone()
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

async fn get_raw(server: &Server, cookie: Option<&str>, path: &str) -> reqwest::Response {
    let mut req = client().get(server.url(path));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// Fetches a stored file through the API and checks its bytes and safety headers.
async fn assert_served(
    server: &Server,
    cookie: &str,
    path: &str,
    bytes: &[u8],
    content_type: &str,
    inline: bool,
) -> reqwest::Response {
    let anonymous = get_raw(server, None, path).await;
    assert_eq!(anonymous.status(), 401, "{path} without a session");
    let resp = get_raw(server, Some(cookie), path).await;
    assert_eq!(resp.status(), 200, "GET {path}");
    assert_eq!(header(&resp, "content-type"), content_type, "{path}");
    assert_eq!(header(&resp, "x-content-type-options"), "nosniff", "{path}");
    assert!(
        header(&resp, "content-security-policy").starts_with("sandbox"),
        "{path}: {}",
        header(&resp, "content-security-policy")
    );
    let disposition = header(&resp, "content-disposition").to_string();
    if inline {
        assert!(disposition.starts_with("inline"), "{path}: {disposition}");
    } else {
        assert!(
            disposition.starts_with("attachment"),
            "{path}: {disposition}"
        );
    }
    let got = get_raw(server, Some(cookie), path)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha_hex(&got), sha_hex(bytes), "bytes served at {path}");
    resp
}

/// Checks the API view of a stored attachment against the bytes the fake served.
fn assert_stored(w: &Workdir, att: &Value, bytes: &[u8], mime: &str) {
    assert_eq!(att["status"], "stored", "{att:#}");
    assert!(att["error"].is_null(), "{att:#}");
    assert_eq!(att["sha256"], sha_hex(bytes), "{att:#}");
    assert_eq!(att["size"], bytes.len() as i64, "{att:#}");
    assert_eq!(att["mime_type"], mime, "{att:#}");
    let id = att["id"].as_i64().unwrap();
    assert_eq!(att["url"], format!("/api/attachments/{id}"), "{att:#}");
    assert_stored_on_disk(w, bytes);
}

fn assert_failed(att: &Value, reason_contains: &str) -> String {
    assert_eq!(att["status"], "failed", "{att:#}");
    assert!(att["url"].is_null(), "{att:#}");
    let error = att["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error
            .to_lowercase()
            .contains(&reason_contains.to_lowercase()),
        "reason should mention {reason_contains:?}: {att:#}"
    );
    error
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn assert_bearer(reqs: &[Recorded], what: &str) {
    assert!(!reqs.is_empty(), "no request for {what}");
    for r in reqs {
        assert_eq!(
            r.header("authorization"),
            Some(bearer().as_str()),
            "{what}: {r:?}"
        );
    }
}

fn assert_no_auth(reqs: &[Recorded], what: &str) {
    assert!(!reqs.is_empty(), "no request for {what}");
    for r in reqs {
        assert!(r.header("authorization").is_none(), "{what}: {r:?}");
    }
}

/// The access token never shows up in logs or in URLs.
fn assert_no_token_leak(server: &Server, fake: &FakeGraph) {
    let err = server.stderr_text();
    assert!(
        err.contains("DEBUG"),
        "the server should run with debug logs"
    );
    assert!(!err.contains(TOKEN), "token in the server log");
    assert!(!server.stdout_text().contains(TOKEN), "token on stdout");
    for r in fake.requests() {
        assert!(!r.path_and_query().contains(TOKEN), "token in a URL: {r:?}");
    }
}

/// (state, attempts, last_error) of the download job of an attachment.
fn download_job(w: &Workdir, attachment_id: i64) -> (String, i64, Option<String>) {
    w.db()
        .query_row(
            "SELECT state, attempts, last_error FROM jobs
             WHERE kind = 'download_attachment' AND subject_id = ?1",
            [attachment_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

/// The download job once it has finished (its row is written just after the
/// attachment's, so the API can show `stored` a moment before the job reads `done`).
async fn finished_job(w: &Workdir, attachment_id: i64) -> (String, i64, Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let job = download_job(w, attachment_id);
        if job.0 != "queued" && job.0 != "running" {
            return job;
        }
        assert!(Instant::now() < deadline, "job still {job:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn cdn_requests(fake: &FakeGraph) -> Vec<Recorded> {
    fake.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/cdn/"))
        .collect()
}

// ---------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn messenger_and_instagram_images_are_stored_without_sending_the_token_to_the_cdn() {
    let fake = FakeGraph::start();
    let w = workdir(&fake, true);
    let fb_bytes = content(JPEG, 1, 20_000);
    let ig_bytes = content(PNG, 2, 7_000);
    fake.respond("/cdn/fb/img.jpg", 200, "image/jpeg", fb_bytes.clone());
    fake.respond("/cdn/ig/asset", 200, "image/png", ig_bytes.clone());
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    let fb_url = format!(
        "{}/cdn/fb/img.jpg?_nc_cat=105&oh=03_Q7cD&oe=6799A1B2",
        fake.url()
    );
    let ig_url = format!(
        "{}/cdn/ig/asset?asset_id=17951234567890123&signature=AbxK3q",
        fake.url()
    );
    post(&server, "facebook", &fb_image("m_fb_img_1", &fb_url)).await;
    post(&server, "instagram", &ig_image("ig_img_1", &ig_url)).await;

    let fb = settled_attachment(&server, &cookie, "m_fb_img_1").await;
    assert_stored(&w, &fb, &fb_bytes, "image/jpeg");
    assert_eq!(fb["kind"], "image");
    assert_eq!(fb["source_url"], fb_url);
    let ig = settled_attachment(&server, &cookie, "ig_img_1").await;
    assert_stored(&w, &ig, &ig_bytes, "image/png");
    assert_eq!(ig["source_url"], ig_url);

    let fb_path = fb["url"].as_str().unwrap();
    assert_served(&server, &cookie, fb_path, &fb_bytes, "image/jpeg", true).await;
    let ig_path = ig["url"].as_str().unwrap();
    assert_served(&server, &cookie, ig_path, &ig_bytes, "image/png", true).await;

    // The CDN links are signed URLs: fetched as they are, without the page token, with
    // their query strings intact.
    let fb_reqs = fake.requests_to("/cdn/fb/img.jpg");
    assert_no_auth(&fb_reqs, "Messenger CDN");
    assert_eq!(fb_reqs[0].path_and_query(), fb_url.replace(&fake.url(), ""));
    assert_no_auth(&fake.requests_to("/cdn/ig/asset"), "Instagram CDN");
    assert_eq!(fb_reqs.len(), 1, "one download is enough: {fb_reqs:?}");
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn active_content_is_served_as_a_download_and_identical_files_are_stored_once() {
    let fake = FakeGraph::start();
    let w = workdir(&fake, true);
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec();
    let html = b"<html><script>fetch('/api/channels')</script></html>".to_vec();
    let same = content(JPEG, 16, 2_000);
    let pdf = content(PDF, 17, 1_500);
    fake.respond("/cdn/x.svg", 200, "image/svg+xml", svg.clone());
    fake.respond("/cdn/x.html", 200, "text/html; charset=utf-8", html.clone());
    fake.respond("/cdn/same-1.jpg", 200, "image/jpeg", same.clone());
    fake.respond("/cdn/same-2.jpg", 200, "image/jpeg", same.clone());
    let media_id = "400000000000001";
    let info = media_info(
        &fake,
        media_id,
        "application/pdf",
        &sha_b64(&pdf),
        json!(1500),
    );
    fake.respond_with(&FakeGraph::graph_path(media_id), Resp::json(200, &info));
    fake.respond(&wa_cdn_path(media_id), 200, "application/pdf", pdf.clone());
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    let u = |p: &str| format!("{}{p}", fake.url());
    post(&server, "facebook", &fb_image("m_svg", &u("/cdn/x.svg"))).await;
    post(&server, "facebook", &fb_image("m_html", &u("/cdn/x.html"))).await;
    // One message with two attachments carrying the same bytes.
    let two = json!({"attachments": [
        {"type": "image", "payload": {"url": u("/cdn/same-1.jpg")}},
        {"type": "image", "payload": {"url": u("/cdn/same-2.jpg")}}
    ]});
    post(
        &server,
        "facebook",
        &messaging_body("page", PAGE, PSID, "m_two", two),
    )
    .await;
    let evil_name = "evil\"\r\nX-Injected: yes\\..\\.pdf";
    let doc = json!({"filename": evil_name, "mime_type": "application/pdf",
                     "sha256": sha_b64(&pdf), "id": media_id});
    post(
        &server,
        "whatsapp",
        &wa_message("wamid.EVIL", "document", doc),
    )
    .await;

    let att = settled_attachment(&server, &cookie, "m_svg").await;
    assert_stored(&w, &att, &svg, "image/svg+xml");
    let path = att["url"].as_str().unwrap();
    assert_served(
        &server,
        &cookie,
        path,
        &svg,
        "application/octet-stream",
        false,
    )
    .await;
    let att = settled_attachment(&server, &cookie, "m_html").await;
    assert_stored(&w, &att, &html, "text/html");
    let path = att["url"].as_str().unwrap();
    assert_served(
        &server,
        &cookie,
        path,
        &html,
        "application/octet-stream",
        false,
    )
    .await;

    let m = settled(&server, &cookie, "m_two", SETTLE).await;
    let atts = m["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 2, "{m:#}");
    for a in atts {
        assert_stored(&w, a, &same, "image/jpeg");
        let path = a["url"].as_str().unwrap();
        assert_served(&server, &cookie, path, &same, "image/jpeg", true).await;
    }
    assert_ne!(atts[0]["id"], atts[1]["id"]);

    let att = settled_attachment(&server, &cookie, "wamid.EVIL").await;
    assert_stored(&w, &att, &pdf, "application/pdf");
    let path = att["url"].as_str().unwrap();
    let resp = assert_served(
        &server,
        &cookie,
        path,
        &pdf,
        "application/octet-stream",
        false,
    )
    .await;
    assert!(resp.headers().get("x-injected").is_none());
    let disposition = header(&resp, "content-disposition");
    let name = disposition
        .strip_prefix("attachment; filename=\"")
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{disposition}"));
    assert!(!name.contains(['"', '\\', '\r', '\n']), "{disposition}");

    // Content-addressed: four distinct contents, four files (the duplicate is kept once),
    // and no temp file left.
    let files = files_under(&attachments_dir(&w));
    assert_eq!(files.len(), 4, "{files:?}");
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn whatsapp_media_is_resolved_then_downloaded_with_the_token() {
    let fake = FakeGraph::start();
    let w = workdir(&fake, true);
    let image = content(JPEG, 3, 12_345);
    // Documents run to megabytes: larger than what a download keeps in memory (1 MiB),
    // so this one is written to a temp file as it arrives.
    let pdf = content(PDF, 4, 2_500_017);
    let audio = content(OGG, 5, 9_999);
    let (image_id, pdf_id, audio_id) = ("1479537139650973", "2113390865792101", "1027394618203746");
    // file_size as a string (newer payloads), as a number (older ones), and absent.
    let image_info = media_info(
        &fake,
        image_id,
        "image/jpeg",
        &sha_b64(&image),
        json!(image.len().to_string()),
    );
    let pdf_info = media_info(
        &fake,
        pdf_id,
        "application/pdf",
        &sha_b64(&pdf),
        json!(pdf.len()),
    );
    let mut audio_info = media_info(
        &fake,
        audio_id,
        "audio/ogg; codecs=opus",
        &sha_b64(&audio),
        json!(null),
    );
    audio_info.as_object_mut().unwrap().remove("file_size");
    for (id, info) in [
        (image_id, &image_info),
        (pdf_id, &pdf_info),
        (audio_id, &audio_info),
    ] {
        fake.respond_with(&FakeGraph::graph_path(id), Resp::json(200, info));
    }
    fake.respond(&wa_cdn_path(image_id), 200, "image/jpeg", image.clone());
    fake.respond(&wa_cdn_path(pdf_id), 200, "application/pdf", pdf.clone());
    fake.respond(&wa_cdn_path(audio_id), 200, "audio/ogg", audio.clone());
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    let image_msg = json!({"caption": "This is the damaged box", "mime_type": "image/jpeg",
                           "sha256": sha_b64(&image), "id": image_id});
    post(
        &server,
        "whatsapp",
        &wa_message("wamid.IMG1", "image", image_msg),
    )
    .await;
    let pdf_msg = json!({"caption": "Invoice for March", "filename": "invoice-4521.pdf",
                         "mime_type": "application/pdf", "sha256": sha_b64(&pdf), "id": pdf_id});
    post(
        &server,
        "whatsapp",
        &wa_message("wamid.DOC1", "document", pdf_msg),
    )
    .await;
    let audio_msg = json!({"mime_type": "audio/ogg; codecs=opus", "sha256": sha_b64(&audio),
                           "id": audio_id, "voice": true});
    post(
        &server,
        "whatsapp",
        &wa_message("wamid.AUD1", "audio", audio_msg),
    )
    .await;

    let m = settled(&server, &cookie, "wamid.IMG1", SETTLE).await;
    assert_eq!(m["text"], "This is the damaged box");
    let img = m["attachments"][0].clone();
    assert_stored(&w, &img, &image, "image/jpeg");
    let img_path = img["url"].as_str().unwrap();
    assert_served(&server, &cookie, img_path, &image, "image/jpeg", true).await;

    let doc = settled_attachment(&server, &cookie, "wamid.DOC1").await;
    assert_stored(&w, &doc, &pdf, "application/pdf");
    assert_eq!(doc["filename"], "invoice-4521.pdf");
    assert_eq!(doc["kind"], "file");
    let doc_path = doc["url"].as_str().unwrap();
    // Not image/audio/video: served as a download, never rendered in the dashboard.
    let resp = assert_served(
        &server,
        &cookie,
        doc_path,
        &pdf,
        "application/octet-stream",
        false,
    )
    .await;
    assert_eq!(
        header(&resp, "content-disposition"),
        "attachment; filename=\"invoice-4521.pdf\""
    );

    let aud = settled_attachment(&server, &cookie, "wamid.AUD1").await;
    assert_stored(&w, &aud, &audio, "audio/ogg; codecs=opus");
    let aud_path = aud["url"].as_str().unwrap();
    assert_served(
        &server,
        &cookie,
        aud_path,
        &audio,
        "audio/ogg; codecs=opus",
        true,
    )
    .await;

    // Two steps, both with the channel token in the Authorization header.
    for id in [image_id, pdf_id, audio_id] {
        let info_reqs = fake.requests_to(&FakeGraph::graph_path(id));
        assert_bearer(&info_reqs, "media endpoint");
        assert_eq!(info_reqs[0].method, "GET");
        let cdn = fake.requests_to(&wa_cdn_path(id));
        assert_bearer(&cdn, "WhatsApp media URL");
        assert_eq!(cdn.len(), 1, "{cdn:?}");
        assert!(
            cdn[0]
                .query
                .as_deref()
                .unwrap_or_default()
                .contains("hash=ATuXkZr1y2w3"),
            "the media URL is used as given: {cdn:?}"
        );
        assert!(info_reqs[0].at <= cdn[0].at);
    }
    let temp = files_under(&attachments_dir(&w).join("tmp"));
    assert!(temp.is_empty(), "temp files left behind: {temp:?}");
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn profiles_come_from_graph_for_messenger_and_instagram_and_from_the_payload_for_whatsapp() {
    let fake = FakeGraph::start();
    let w = workdir(&fake, true);
    let fb_pic = content(JPEG, 6, 3_000);
    let ig_pic = content(PNG, 7, 2_500);
    fake.respond_with(
        &FakeGraph::graph_path(PSID),
        Resp::json(
            200,
            &json!({"first_name": "First", "last_name": "Last", "id": PSID,
                    "profile_pic": format!("{}/cdn/pics/fb.jpg?oh=00_AYD&oe=67A0", fake.url())}),
        ),
    );
    fake.respond_with(
        &FakeGraph::graph_path(IG_USER),
        Resp::json(
            200,
            &json!({"name": "Insta Name", "username": "insta_user", "id": IG_USER,
                    "profile_pic": format!("{}/cdn/pics/ig.png", fake.url())}),
        ),
    );
    fake.respond("/cdn/pics/fb.jpg", 200, "image/jpeg", fb_pic.clone());
    fake.respond("/cdn/pics/ig.png", 200, "image/png", ig_pic.clone());
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    post(&server, "facebook", &fb_text("m_fb_hello", "hello")).await;
    post(&server, "instagram", &ig_text("ig_hello", "hi")).await;
    let wa = wa_message("wamid.TXT1", "text", json!({"body": "olá"}));
    post(&server, "whatsapp", &wa).await;

    let deadline = Instant::now() + SETTLE;
    let (fb, ig, wa) = loop {
        let convs = conversations(&server, &cookie).await;
        let contact = |provider: &str| {
            convs
                .iter()
                .find(|c| c["channel"]["provider"] == provider)
                .map(|c| c["contact"].clone())
        };
        let (fb, ig, wa) = (
            contact("facebook"),
            contact("instagram"),
            contact("whatsapp"),
        );
        let done = |c: &Value| !c["avatar_url"].is_null();
        if let (Some(fb), Some(ig), Some(wa)) = (&fb, &ig, &wa)
            && done(fb)
            && done(ig)
        {
            break (fb.clone(), ig.clone(), wa.clone());
        }
        assert!(
            Instant::now() < deadline,
            "profiles not fetched: {fb:#?} {ig:#?}\n{}",
            tail(&server.stderr_text())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    assert_eq!(fb["name"], "First Last", "{fb:#}");
    assert_eq!(fb["external_id"], PSID);
    let fb_avatar = fb["avatar_url"].as_str().unwrap();
    assert_eq!(fb_avatar, format!("/api/contacts/{}/avatar", fb["id"]));
    assert_served(&server, &cookie, fb_avatar, &fb_pic, "image/jpeg", true).await;
    assert_stored_on_disk(&w, &fb_pic);

    assert_eq!(ig["name"], "Insta Name", "{ig:#}");
    assert_eq!(ig["username"], "insta_user", "{ig:#}");
    let ig_avatar = ig["avatar_url"].as_str().unwrap();
    assert_served(&server, &cookie, ig_avatar, &ig_pic, "image/png", true).await;

    assert_eq!(wa["name"], "Ana Souza", "{wa:#}");
    assert!(wa["avatar_url"].is_null(), "{wa:#}");

    // The Graph calls: the right fields, the token in the header; the pictures without it.
    let fb_reqs = fake.requests_to(&FakeGraph::graph_path(PSID));
    assert_bearer(&fb_reqs, "Messenger profile");
    let q = fb_reqs[0]
        .query
        .clone()
        .unwrap_or_default()
        .replace("%2C", ",");
    assert_eq!(q, "fields=first_name,last_name,profile_pic");
    let ig_reqs = fake.requests_to(&FakeGraph::graph_path(IG_USER));
    assert_bearer(&ig_reqs, "Instagram profile");
    let q = ig_reqs[0]
        .query
        .clone()
        .unwrap_or_default()
        .replace("%2C", ",");
    assert_eq!(q, "fields=name,username,profile_pic");
    assert_no_auth(&fake.requests_to("/cdn/pics/fb.jpg"), "profile picture");
    assert_no_auth(&fake.requests_to("/cdn/pics/ig.png"), "profile picture");

    // WhatsApp: no Graph profile request at all, and no profile job queued.
    let wa_reqs: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query().contains(WA_ID))
        .collect();
    assert!(wa_reqs.is_empty(), "{wa_reqs:?}");
    let wa_jobs: i64 = w
        .db()
        .query_row(
            "SELECT COUNT(*) FROM jobs j JOIN contacts c ON c.id = j.subject_id
             JOIN channels ch ON ch.id = c.channel_id
             WHERE j.kind = 'fetch_profile' AND ch.provider = 'whatsapp'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(wa_jobs, 0);
    assert_eq!(fake.requests().len(), 4, "{:#?}", fake.requests());
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn a_photo_is_downloaded_before_a_backlog_of_profile_fetches() {
    let fake = FakeGraph::start();
    let mut w = workdir(&fake, true);
    // One worker, and Meta answering each profile after 300 ms: eight new senders
    // make a backlog of eight profile fetches, 2.4 seconds of work.
    w.set_env("HELPSTACK_JOB_WORKERS", "1");
    fake.set_default(Some(
        Resp::json(200, &json!({"first_name": "New", "last_name": "Sender"}))
            .delayed(Duration::from_millis(300)),
    ));
    let bytes = content(JPEG, 11, 4_000);
    fake.respond("/cdn/backlog/photo.jpg", 200, "image/jpeg", bytes.clone());
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    let senders: Vec<String> = (1..=8).map(|i| format!("40000000{i:02}")).collect();
    for (i, sender) in senders.iter().enumerate() {
        let body = messaging_body(
            "page",
            PAGE,
            sender,
            &format!("m_backlog_{i}"),
            json!({"text": "hi"}),
        );
        post(&server, "facebook", &body).await;
    }
    let url = format!("{}/cdn/backlog/photo.jpg", fake.url());
    let photo = messaging_body(
        "page",
        PAGE,
        "4000000099",
        "m_backlog_photo",
        image_attachment(&url),
    );
    post(&server, "facebook", &photo).await;

    let att = settled_attachment(&server, &cookie, "m_backlog_photo").await;
    assert_stored(&w, &att, &bytes, "image/jpeg");
    // In the order the fake saw them: queued first, the profiles would all come
    // before the photo (nine of them, the photo's sender's included).
    let order: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    let photo_at = order
        .iter()
        .position(|p| p == "/cdn/backlog/photo.jpg")
        .expect("the photo was requested");
    let profiles = |reqs: &[String]| {
        senders
            .iter()
            .filter(|s| reqs.contains(&FakeGraph::graph_path(s)))
            .count()
    };
    assert!(
        profiles(&order[..photo_at]) < senders.len(),
        "the photo waited behind the profile backlog: {order:?}"
    );
    // And the backlog is not starved either: every profile is fetched after it.
    let deadline = Instant::now() + SETTLE;
    loop {
        let order: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
        if profiles(&order) == senders.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "profiles not all fetched: {order:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn server_errors_are_retried_until_the_download_succeeds() {
    let fake = FakeGraph::start();
    let w = workdir(&fake, true);
    let bytes = content(JPEG, 8, 5_000);
    fake.respond_seq("/cdn/flaky.jpg", vec![Resp::status(500), Resp::status(503)]);
    fake.respond("/cdn/flaky.jpg", 200, "image/jpeg", bytes.clone());
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    let url = format!("{}/cdn/flaky.jpg", fake.url());
    post(&server, "facebook", &fb_image("m_flaky", &url)).await;
    let att = settled_attachment(&server, &cookie, "m_flaky").await;
    assert_stored(&w, &att, &bytes, "image/jpeg");
    let reqs = fake.requests_to("/cdn/flaky.jpg");
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    // Backed off between attempts (base 1 s, ±25%), not hammered.
    assert!(reqs[1].at - reqs[0].at >= Duration::from_millis(700));
    assert!(reqs[2].at - reqs[1].at >= Duration::from_millis(1400));
    let (state, attempts, _) = finished_job(&w, att["id"].as_i64().unwrap()).await;
    assert_eq!((state.as_str(), attempts), ("done", 3));
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn an_invalid_token_fails_the_download_and_flags_the_channel() {
    let fake = FakeGraph::start();
    let w = workdir(&fake, true);
    let msg = "Error validating access token: Session has expired on Friday, 02-Jan-26.";
    fake.respond_with(
        &FakeGraph::graph_path("900000000000001"),
        Resp::graph_error(400, 190, msg),
    );
    fake.respond_with(
        &FakeGraph::graph_path("900000000000002"),
        Resp::graph_error(401, 190, "Error validating access token"),
    );
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    let image = json!({"caption": "Here is the receipt", "mime_type": "image/jpeg",
                       "sha256": sha_b64(b"x"), "id": "900000000000001"});
    post(
        &server,
        "whatsapp",
        &wa_message("wamid.TOK1", "image", image),
    )
    .await;
    let doc = json!({"filename": "a.pdf", "mime_type": "application/pdf",
                     "sha256": sha_b64(b"y"), "id": "900000000000002"});
    post(
        &server,
        "whatsapp",
        &wa_message("wamid.TOK2", "document", doc),
    )
    .await;

    let m = settled(&server, &cookie, "wamid.TOK1", SETTLE).await;
    // The message itself is kept with its text; only the media is missing.
    assert_eq!(m["text"], "Here is the receipt", "{m:#}");
    assert_eq!(m["kind"], "image");
    let reason = assert_failed(&m["attachments"][0], "access token");
    assert!(reason.contains("190"), "{reason}");
    let doc = settled_attachment(&server, &cookie, "wamid.TOK2").await;
    assert_failed(&doc, "access token");

    let channels = get_json(&server, &cookie, "/api/channels").await["channels"]
        .as_array()
        .unwrap()
        .clone();
    for ch in &channels {
        if ch["provider"] == "whatsapp" {
            assert_eq!(ch["token_status"], "token_invalid", "{ch:#}");
        } else {
            // Only the channel whose token was rejected is flagged.
            assert_eq!(ch["token_status"], "unknown", "{ch:#}");
        }
    }
    let wa = channels
        .iter()
        .find(|c| c["provider"] == "whatsapp")
        .unwrap();
    assert!(
        wa["token_error"]
            .as_str()
            .unwrap_or_default()
            .contains("190"),
        "{wa:#}"
    );
    assert!(!wa.to_string().contains(TOKEN));

    // Permanent: asked once each, never retried, and the CDN never reached.
    for id in ["900000000000001", "900000000000002"] {
        let reqs = fake.requests_to(&FakeGraph::graph_path(id));
        assert_eq!(reqs.len(), 1, "{reqs:?}");
        assert_bearer(&reqs, "media endpoint");
        let att_id = if id.ends_with('1') {
            m["attachments"][0]["id"].as_i64().unwrap()
        } else {
            doc["id"].as_i64().unwrap()
        };
        let (state, attempts, _) = finished_job(&w, att_id).await;
        assert_eq!((state.as_str(), attempts), ("failed", 1));
    }
    assert!(cdn_requests(&fake).is_empty());
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn rate_limits_are_retried_later() {
    let fake = FakeGraph::start();
    let w = workdir(&fake, true);
    let fb_bytes = content(JPEG, 9, 4_000);
    let wa_bytes = content(JPEG, 10, 6_000);
    let media_id = "1234567890123456";
    // The CDN answers HTTP 429 once; Graph answers error code 4 once.
    fake.respond_seq("/cdn/busy.jpg", vec![Resp::status(429)]);
    fake.respond("/cdn/busy.jpg", 200, "image/jpeg", fb_bytes.clone());
    let graph = FakeGraph::graph_path(media_id);
    fake.respond_seq(
        &graph,
        vec![Resp::graph_error(
            400,
            4,
            "(#4) Application request limit reached",
        )],
    );
    let info = media_info(
        &fake,
        media_id,
        "image/jpeg",
        &sha_b64(&wa_bytes),
        json!(6000),
    );
    fake.respond_with(&graph, Resp::json(200, &info));
    fake.respond(&wa_cdn_path(media_id), 200, "image/jpeg", wa_bytes.clone());
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    let url = format!("{}/cdn/busy.jpg", fake.url());
    post(&server, "facebook", &fb_image("m_busy", &url)).await;
    let wa = json!({"mime_type": "image/jpeg", "sha256": sha_b64(&wa_bytes), "id": media_id});
    post(&server, "whatsapp", &wa_message("wamid.BUSY", "image", wa)).await;

    let fb = settled_attachment(&server, &cookie, "m_busy").await;
    assert_stored(&w, &fb, &fb_bytes, "image/jpeg");
    let wa = settled_attachment(&server, &cookie, "wamid.BUSY").await;
    assert_stored(&w, &wa, &wa_bytes, "image/jpeg");

    for path in ["/cdn/busy.jpg", graph.as_str()] {
        let reqs = fake.requests_to(path);
        assert_eq!(reqs.len(), 2, "{path}: {reqs:?}");
        assert!(
            reqs[1].at - reqs[0].at >= Duration::from_millis(700),
            "{path} retried without backing off"
        );
    }
    let log = server.stderr_text();
    assert!(log.contains("rate limited (code 4)"), "{}", tail(&log));
    assert!(log.contains("rate limited (code 429)"), "{}", tail(&log));
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn corrupt_and_oversized_downloads_fail_and_leave_no_file() {
    let fake = FakeGraph::start();
    let mut w = workdir(&fake, true);
    w.set_env("HELPSTACK_MAX_ATTACHMENT_BYTES", "1000");
    let small = content(JPEG, 11, 600);
    let big = content(JPEG, 12, 5_000);

    // WhatsApp: Graph announces a hash the bytes do not have.
    let bad_sha = sha_b64(b"something else entirely");
    let info = media_info(&fake, "800000000000001", "image/jpeg", &bad_sha, json!(600));
    fake.respond_with(
        &FakeGraph::graph_path("800000000000001"),
        Resp::json(200, &info),
    );
    fake.respond(
        &wa_cdn_path("800000000000001"),
        200,
        "image/jpeg",
        small.clone(),
    );
    // WhatsApp: no hash from Graph, a wrong one (hex) in the webhook payload.
    let mut info = media_info(&fake, "800000000000002", "image/jpeg", "", json!(600));
    info.as_object_mut().unwrap().remove("sha256");
    fake.respond_with(
        &FakeGraph::graph_path("800000000000002"),
        Resp::json(200, &info),
    );
    fake.respond(
        &wa_cdn_path("800000000000002"),
        200,
        "image/jpeg",
        small.clone(),
    );
    // WhatsApp: Graph announces a size over the limit (as a string).
    let info = media_info(
        &fake,
        "800000000000003",
        "image/jpeg",
        &sha_b64(&big),
        json!("5000"),
    );
    fake.respond_with(
        &FakeGraph::graph_path("800000000000003"),
        Resp::json(200, &info),
    );
    fake.respond(
        &wa_cdn_path("800000000000003"),
        200,
        "image/jpeg",
        big.clone(),
    );
    // Messenger: too big, with and without Content-Length.
    fake.respond("/cdn/big.jpg", 200, "image/jpeg", big.clone());
    fake.respond_with(
        "/cdn/big-chunked.jpg",
        Resp::new(200, "image/jpeg", big.clone()).chunked(),
    );
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    let wa1 = json!({"mime_type": "image/jpeg", "sha256": bad_sha, "id": "800000000000001"});
    post(&server, "whatsapp", &wa_message("wamid.SHA1", "image", wa1)).await;
    let wrong_hex = sha_hex(b"not the bytes");
    let wa2 = json!({"mime_type": "image/jpeg", "sha256": wrong_hex, "id": "800000000000002"});
    post(&server, "whatsapp", &wa_message("wamid.SHA2", "image", wa2)).await;
    let wa3 = json!({"mime_type": "image/jpeg", "sha256": sha_b64(&big), "id": "800000000000003"});
    post(&server, "whatsapp", &wa_message("wamid.BIG1", "image", wa3)).await;
    let url = format!("{}/cdn/big.jpg", fake.url());
    post(&server, "facebook", &fb_image("m_big", &url)).await;
    let url = format!("{}/cdn/big-chunked.jpg", fake.url());
    post(&server, "facebook", &fb_image("m_big_chunked", &url)).await;

    for wamid in ["wamid.SHA1", "wamid.SHA2"] {
        let att = settled_attachment(&server, &cookie, wamid).await;
        assert_failed(&att, "sha256");
        assert!(att["sha256"].is_null(), "{att:#}");
    }
    for mid in ["wamid.BIG1", "m_big", "m_big_chunked"] {
        let att = settled_attachment(&server, &cookie, mid).await;
        let reason = assert_failed(&att, "maximum");
        assert!(reason.contains("1000"), "{reason}");
    }
    // An announced size over the limit is refused before downloading.
    assert!(fake.requests_to(&wa_cdn_path("800000000000003")).is_empty());
    // Each failed once, for good.
    let states: Vec<(String, i64)> = w
        .db()
        .prepare("SELECT state, attempts FROM jobs WHERE kind = 'download_attachment'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(states.len(), 5);
    assert!(
        states.iter().all(|(s, a)| s == "failed" && *a == 1),
        "{states:?}"
    );
    // /metrics labels the failures by their stored reason code.
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (reason, n) in [("sha256_mismatch", 2), ("too_large", 3)] {
        let line = format!(
            "helpstack_job_failures{{kind=\"download_attachment\",reason=\"{reason}\"}} {n}"
        );
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }

    // Nothing kept: no stored file and no temp file.
    let left = files_under(&attachments_dir(&w));
    assert!(left.is_empty(), "files left behind: {left:?}");
    assert!(!stored_path(&w, &sha_hex(&small)).exists());
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn media_on_private_addresses_is_refused_without_a_request() {
    let fake = FakeGraph::start();
    let w = workdir(&fake, false);
    let port = fake.port();
    let bytes = content(JPEG, 13, 500);
    fake.set_default(Some(Resp::new(200, "image/jpeg", bytes.clone())));
    // The Graph API itself is reachable (it is configured, not taken from a payload)...
    fake.respond_with(
        &FakeGraph::graph_path(PSID),
        Resp::json(200, &json!({"first_name": "Guarded", "last_name": "User"})),
    );
    let info = media_info(
        &fake,
        "700000000000001",
        "image/jpeg",
        &sha_b64(&bytes),
        json!(500),
    );
    fake.respond_with(
        &FakeGraph::graph_path("700000000000001"),
        Resp::json(200, &info),
    );
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    // ...but media URLs from payloads (and from Graph) must not reach loopback.
    let urls = [
        format!("http://127.0.0.1:{port}/cdn/ssrf/a.jpg"),
        format!("http://localhost:{port}/cdn/ssrf/b.jpg"),
        format!("http://LOCALHOST:{port}/cdn/ssrf/c.jpg"),
        format!("http://[::ffff:127.0.0.1]:{port}/cdn/ssrf/d.jpg"),
        format!("http://2130706433:{port}/cdn/ssrf/e.jpg"),
        format!("http://0x7f.0.0.1:{port}/cdn/ssrf/f.jpg"),
        format!("http://[::1]:{port}/cdn/ssrf/g.jpg"),
    ];
    for (i, url) in urls.iter().enumerate() {
        post(&server, "facebook", &fb_image(&format!("m_ssrf_{i}"), url)).await;
    }
    let wa = json!({"mime_type": "image/jpeg", "sha256": sha_b64(&bytes), "id": "700000000000001"});
    post(&server, "whatsapp", &wa_message("wamid.SSRF", "image", wa)).await;

    for (i, url) in urls.iter().enumerate() {
        let att = settled_attachment(&server, &cookie, &format!("m_ssrf_{i}")).await;
        let reason = assert_failed(&att, "private or loopback");
        assert!(!reason.contains(TOKEN));
        let (state, attempts, _) = finished_job(&w, att["id"].as_i64().unwrap()).await;
        assert_eq!((state.as_str(), attempts), ("failed", 1), "{url}");
    }
    let att = settled_attachment(&server, &cookie, "wamid.SSRF").await;
    assert_failed(&att, "private or loopback");

    // The Graph calls happened; the fake CDN saw nothing.
    assert_eq!(
        fake.requests_to(&FakeGraph::graph_path("700000000000001"))
            .len(),
        1
    );
    let cdn = cdn_requests(&fake);
    assert!(cdn.is_empty(), "the guard let requests through: {cdn:?}");
    assert_no_token_leak(&server, &fake);
}

/// A name other than `localhost` that resolves only to loopback addresses here (from
/// /etc/hosts), if there is one.
fn loopback_hostname() -> Option<String> {
    use std::net::ToSocketAddrs;
    let own = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let candidates = [
        own.trim(),
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "vm",
        "runsc",
    ];
    candidates
        .into_iter()
        .filter(|h| !h.is_empty() && !h.eq_ignore_ascii_case("localhost"))
        .find(|h| {
            (*h, 80).to_socket_addrs().is_ok_and(|addrs| {
                let addrs: Vec<_> = addrs.collect();
                !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
            })
        })
        .map(str::to_string)
}

#[tokio::test]
async fn a_hostname_that_resolves_to_loopback_is_refused() {
    let Some(host) = loopback_hostname() else {
        eprintln!("no hostname resolving to loopback on this machine; nothing to check");
        return;
    };
    let fake = FakeGraph::start();
    let mut w = workdir(&fake, false);
    // Bounded, in case the refusal is retried.
    w.set_env("HELPSTACK_JOB_MAX_ATTEMPTS", "2");
    fake.set_default(Some(Resp::new(200, "image/jpeg", content(JPEG, 15, 500))));
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    let url = format!("http://{host}:{}/cdn/dns/a.jpg", fake.port());
    post(&server, "facebook", &fb_image("m_dns", &url)).await;
    let att = settled_attachment(&server, &cookie, "m_dns").await;
    assert_eq!(att["status"], "failed", "{att:#}");
    let cdn = cdn_requests(&fake);
    assert!(cdn.is_empty(), "{host} reached the fake CDN: {cdn:?}");
    let (state, _attempts, _) = finished_job(&w, att["id"].as_i64().unwrap()).await;
    assert_eq!(state, "failed");
    // A refusal by the resolver is final on the first attempt, like an IP literal.
    assert_eq!(_attempts, 1);
    assert_failed(&att, "private or loopback");
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn a_redirect_to_another_host_does_not_carry_the_token() {
    let fake = FakeGraph::start();
    let w = workdir(&fake, true);
    let bytes = content(JPEG, 14, 8_000);
    let media_id = "600000000000001";
    let info = media_info(
        &fake,
        media_id,
        "image/jpeg",
        &sha_b64(&bytes),
        json!("8000"),
    );
    fake.respond_with(&FakeGraph::graph_path(media_id), Resp::json(200, &info));
    // 127.0.0.1 -> localhost: same machine, different host as far as HTTP goes.
    let target = format!("http://localhost:{}/cdn/elsewhere/file.jpg", fake.port());
    fake.respond_with(&wa_cdn_path(media_id), Resp::redirect(&target));
    fake.respond("/cdn/elsewhere/file.jpg", 200, "image/jpeg", bytes.clone());
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    let wa = json!({"mime_type": "image/jpeg", "sha256": sha_b64(&bytes), "id": media_id});
    post(&server, "whatsapp", &wa_message("wamid.REDIR", "image", wa)).await;
    let att = settled_attachment(&server, &cookie, "wamid.REDIR").await;
    assert_stored(&w, &att, &bytes, "image/jpeg");

    let first = fake.requests_to(&wa_cdn_path(media_id));
    assert_bearer(&first, "WhatsApp media URL");
    assert!(first[0].header("host").unwrap().starts_with("127.0.0.1:"));
    let second = fake.requests_to("/cdn/elsewhere/file.jpg");
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(
        second[0].header("host").unwrap().starts_with("localhost:"),
        "{second:?}"
    );
    assert_no_auth(&second, "redirect target on another host");
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn a_redirect_to_a_refused_url_fails_without_following_it() {
    let fake = FakeGraph::start();
    let w = workdir(&fake, true);
    fake.respond_with("/cdn/to-file.jpg", Resp::redirect("file:///etc/passwd"));
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    let url = format!("{}/cdn/to-file.jpg", fake.url());
    post(&server, "facebook", &fb_image("m_to_file", &url)).await;
    let att = settled_attachment(&server, &cookie, "m_to_file").await;
    assert_failed(&att, "302");
    assert!(att["sha256"].is_null(), "{att:#}");
    let (state, attempts, _) = finished_job(&w, att["id"].as_i64().unwrap()).await;
    assert_eq!((state.as_str(), attempts), ("failed", 1));
    assert_eq!(cdn_requests(&fake).len(), 1);
    assert!(files_under(&attachments_dir(&w)).is_empty());
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn pending_downloads_survive_sigkill() {
    let fake = FakeGraph::start();
    let w = workdir(&fake, true);
    // Everything fails at first, so the jobs stay pending; one request hangs so its job
    // is mid-flight (claimed, leased) when the process dies.
    fake.set_default(Some(Resp::status(500)));
    let wa_id = "500000000000001";
    let paths = [
        "/cdn/k/a.jpg",
        "/cdn/k/b.jpg",
        "/cdn/k/c.jpg",
        "/cdn/k/hang.jpg",
    ];
    for p in &paths[..3] {
        fake.respond_with(p, Resp::status(500));
    }
    fake.respond_with(paths[3], Resp::status(500).delayed(Duration::from_secs(30)));
    let graph = FakeGraph::graph_path(wa_id);
    fake.respond_with(
        &graph,
        Resp::graph_error(500, 2, "Service temporarily unavailable"),
    );
    let mut server = w.serve(&[]);

    let blobs: Vec<Vec<u8>> = (0..5u8).map(|i| content(JPEG, 20 + i, 3_000)).collect();
    for (i, p) in paths.iter().enumerate() {
        let url = format!("{}{p}", fake.url());
        post(&server, "facebook", &fb_image(&format!("m_kill_{i}"), &url)).await;
    }
    let wa = json!({"mime_type": "image/jpeg", "sha256": sha_b64(&blobs[4]), "id": wa_id});
    post(&server, "whatsapp", &wa_message("wamid.KILL", "image", wa)).await;

    // Wait until every download has been tried at least once, then pull the plug.
    let deadline = Instant::now() + SETTLE;
    while !paths
        .iter()
        .map(|p| p.to_string())
        .chain([graph.clone()])
        .all(|p| !fake.requests_to(&p).is_empty())
    {
        assert!(Instant::now() < deadline, "downloads not attempted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_no_token_leak(&server, &fake);
    server.kill9();

    let pending: i64 = w
        .db()
        .query_row(
            "SELECT COUNT(*) FROM attachments WHERE status = 'pending'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending, 5);
    let running: i64 = w
        .db()
        .query_row(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'download_attachment' AND state = 'running'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(running >= 1, "the hanging download should be mid-flight");

    // Meta recovers; the restarted server finishes every pending download.
    fake.set_default(None);
    for (p, bytes) in paths.iter().zip(&blobs) {
        fake.respond(p, 200, "image/jpeg", bytes.clone());
    }
    let info = media_info(&fake, wa_id, "image/jpeg", &sha_b64(&blobs[4]), json!(3000));
    fake.respond_with(&graph, Resp::json(200, &info));
    fake.respond(&wa_cdn_path(wa_id), 200, "image/jpeg", blobs[4].clone());
    let server = w.serve(&[]);
    let cookie = login(&server).await;
    let timeout = Duration::from_secs(30);
    for (i, bytes) in blobs.iter().enumerate().take(4) {
        let m = settled(&server, &cookie, &format!("m_kill_{i}"), timeout).await;
        assert_stored(&w, &m["attachments"][0], bytes, "image/jpeg");
    }
    let m = settled(&server, &cookie, "wamid.KILL", timeout).await;
    assert_stored(&w, &m["attachments"][0], &blobs[4], "image/jpeg");

    let ids: Vec<i64> = w
        .db()
        .prepare("SELECT subject_id FROM jobs WHERE kind = 'download_attachment'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids.len(), 5);
    for id in ids {
        assert_eq!(finished_job(&w, id).await.0, "done");
    }
    let temp = files_under(&attachments_dir(&w).join("tmp"));
    assert!(temp.is_empty(), "{temp:?}");
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn a_graph_outage_pauses_the_pool_and_uses_up_no_attempts() {
    // A port with nothing behind it: every connection is refused until the fake starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut w = Workdir::new();
    w.set_env("HELPSTACK_JOB_WORKERS", "2")
        .set_env(
            "HELPSTACK_GRAPH_API_URL",
            &format!("http://127.0.0.1:{port}/v25.0"),
        )
        // Two attempts: without the pause every job would fail within about 2 s.
        .set_env("HELPSTACK_JOB_MAX_ATTEMPTS", "2")
        .set_env("RUST_LOG", "debug");
    create_admin(&w);
    w.add_channel("facebook", "--page-id", PAGE);
    let server = w.serve(&[]);
    let senders: Vec<String> = (0..6).map(|i| format!("55500000{i}")).collect();
    for (i, s) in senders.iter().enumerate() {
        let body = messaging_body(
            "page",
            PAGE,
            s,
            &format!("m_outage_{i}"),
            json!({"text": "hi"}),
        );
        post(&server, "facebook", &body).await;
    }

    // Wait for three consecutive pauses (about 1 + 2 s), longer than the old retry
    // budget of two attempts.
    let deadline = Instant::now() + SETTLE;
    while server
        .stderr_text()
        .matches("background jobs pause")
        .count()
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "the pool never paused: {}",
            tail(&server.stderr_text())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (failed, counted): (i64, i64) = w
        .db()
        .query_row(
            "SELECT COUNT(*) FILTER (WHERE state = 'failed'),
                    COALESCE(SUM(attempts) FILTER (WHERE state = 'queued'), 0)
             FROM jobs WHERE kind = 'fetch_profile'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(failed, 0, "{}", tail(&server.stderr_text()));
    assert_eq!(counted, 0, "unreachable attempts must not count");

    // Meta comes back: every profile is fetched.
    let fake = FakeGraph::start_on(port);
    fake.set_default(Some(Resp::json(
        200,
        &json!({"first_name": "Back", "last_name": "Online"}),
    )));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let named: i64 = w
            .db()
            .query_row(
                "SELECT COUNT(*) FROM contacts WHERE name = 'Back Online'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if named == senders.len() as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{named} of {} profiles after the outage: {}",
            senders.len(),
            tail(&server.stderr_text())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let done: i64 = w
        .db()
        .query_row(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'fetch_profile' AND state = 'done'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(done, senders.len() as i64);
}

/// Profiles fetched so far from the fake Graph API, among `senders`.
fn profiles_fetched(fake: &FakeGraph, senders: &[String]) -> usize {
    let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    senders
        .iter()
        .filter(|s| paths.contains(&FakeGraph::graph_path(s)))
        .count()
}

#[tokio::test]
async fn a_dead_media_host_fails_its_own_downloads_and_profiles_go_on() {
    let fake = FakeGraph::start();
    // A closed port on a loopback name other than the Graph host's: every connect
    // fails at once, and no test asks a resolver outside the machine.
    let mut w = workdir(&fake, true);
    w.set_env("HELPSTACK_JOB_MAX_ATTEMPTS", "3");
    fake.set_default(Some(Resp::json(
        200,
        &json!({"first_name": "Still", "last_name": "Served"}),
    )));
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    // Eight attachments on a CDN host that no longer resolves, queued first...
    for i in 0..8 {
        let url = format!("http://localhost:1/cdn/dead/{i}.jpg");
        post(&server, "facebook", &fb_image(&format!("m_dead_{i}"), &url)).await;
    }
    // ...then twenty new senders.
    let senders: Vec<String> = (0..20).map(|i| format!("77700000{i:02}")).collect();
    for (i, s) in senders.iter().enumerate() {
        let body = messaging_body(
            "page",
            PAGE,
            s,
            &format!("m_alive_{i}"),
            json!({"text": "hi"}),
        );
        post(&server, "facebook", &body).await;
    }

    let deadline = Instant::now() + SETTLE;
    while profiles_fetched(&fake, &senders) < senders.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} profiles fetched while a media host is dead: {}",
            profiles_fetched(&fake, &senders),
            senders.len(),
            tail(&server.stderr_text())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The dead host never paused the pool.
    assert!(
        !server.stderr_text().contains("background jobs pause"),
        "{}",
        tail(&server.stderr_text())
    );

    // Each download used up its attempts and failed with the reason.
    for i in 0..8 {
        let mid = format!("m_dead_{i}");
        let att = settled(&server, &cookie, &mid, Duration::from_secs(40)).await;
        let att = &att["attachments"][0];
        let reason = assert_failed(att, "cannot reach localhost");
        assert!(reason.contains("gave up after 3 attempts"), "{reason}");
        let (state, attempts, _) = finished_job(&w, att["id"].as_i64().unwrap()).await;
        assert_eq!((state.as_str(), attempts), ("failed", 3), "{mid}");
    }
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn a_slow_media_host_holds_only_its_share_of_the_workers() {
    let fake = FakeGraph::start();
    // Two workers: one request at a time per media host.
    let w = workdir(&fake, true);
    fake.set_default(Some(Resp::json(
        200,
        &json!({"first_name": "Not", "last_name": "Waiting"}),
    )));
    let slow = Duration::from_secs(6);
    let photos: Vec<Vec<u8>> = (0..3).map(|i| content(JPEG, 40 + i, 2_000)).collect();
    for (i, bytes) in photos.iter().enumerate() {
        fake.respond_with(
            &format!("/cdn/slow/{i}.jpg"),
            Resp::new(200, "image/jpeg", bytes.clone()).delayed(slow),
        );
    }
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    // `localhost` is another host than the Graph API's 127.0.0.1, served by the same
    // fake: three photos on it, each answered only after six seconds...
    for i in 0..photos.len() {
        let url = format!("http://localhost:{}/cdn/slow/{i}.jpg", fake.port());
        post(&server, "facebook", &fb_image(&format!("m_slow_{i}"), &url)).await;
    }
    // ...then ten new senders.
    let senders: Vec<String> = (0..10).map(|i| format!("88800000{i:02}")).collect();
    for (i, s) in senders.iter().enumerate() {
        let body = messaging_body(
            "page",
            PAGE,
            s,
            &format!("m_slow_sender_{i}"),
            json!({"text": "hi"}),
        );
        post(&server, "facebook", &body).await;
    }
    let deadline = Instant::now() + SETTLE;
    while profiles_fetched(&fake, &senders) < senders.len() {
        assert!(
            Instant::now() < deadline,
            "profiles not fetched: {}",
            tail(&server.stderr_text())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let slow_requests = || -> Vec<Instant> {
        fake.requests()
            .iter()
            .filter(|r| r.path.starts_with("/cdn/slow/"))
            .map(|r| r.at)
            .collect()
    };
    // Every profile was asked for before the first slow photo was even answered: the
    // slow host never had both workers.
    let first_slow = *slow_requests().first().expect("a slow photo was requested");
    for r in fake.requests() {
        if senders.iter().any(|s| r.path == FakeGraph::graph_path(s)) {
            assert!(
                r.at < first_slow + slow,
                "profile waited for the slow host: {r:?}"
            );
        }
    }
    // And the photos all arrive, one at a time: each request to the slow host came
    // after the previous one was answered.
    for (i, bytes) in photos.iter().enumerate() {
        let m = settled(
            &server,
            &cookie,
            &format!("m_slow_{i}"),
            Duration::from_secs(60),
        )
        .await;
        assert_stored(&w, &m["attachments"][0], bytes, "image/jpeg");
    }
    let at = slow_requests();
    assert_eq!(at.len(), photos.len(), "each photo requested once");
    for pair in at.windows(2) {
        assert!(
            pair[1].duration_since(pair[0]) >= slow,
            "two requests to the slow host overlapped"
        );
    }
}

#[tokio::test]
async fn whatsapp_media_ids_that_are_not_one_safe_segment_are_refused_without_a_request() {
    let fake = FakeGraph::start();
    let w = workdir(&fake, true);
    let bytes = content(JPEG, 50, 700);
    let good = "700000000000009";
    let info = media_info(&fake, good, "image/jpeg", &sha_b64(&bytes), json!(700));
    fake.respond_with(&FakeGraph::graph_path(good), Resp::json(200, &info));
    fake.respond(&wa_cdn_path(good), 200, "image/jpeg", bytes.clone());
    // Anything else the server might ask for would be answered: only the log of
    // requests tells whether it asked.
    fake.set_default(Some(Resp::json(
        200,
        &json!({"url": "http://127.0.0.1:9/x"}),
    )));
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    let bad = [
        "..", ".", "../me", "me/..", "1/2", "%2e%2e", "1.5", "12 34", "١٢٣",
    ];
    for (i, id) in bad.iter().enumerate() {
        let media = json!({"mime_type": "image/jpeg", "id": id});
        post(
            &server,
            "whatsapp",
            &wa_message(&format!("wamid.BADID{i}"), "image", media),
        )
        .await;
    }
    let media = json!({"mime_type": "image/jpeg", "sha256": sha_b64(&bytes), "id": good});
    post(
        &server,
        "whatsapp",
        &wa_message("wamid.GOODID", "image", media),
    )
    .await;

    for (i, id) in bad.iter().enumerate() {
        let att = settled_attachment(&server, &cookie, &format!("wamid.BADID{i}")).await;
        assert_failed(&att, "invalid WhatsApp media id");
        let (state, attempts, _) = finished_job(&w, att["id"].as_i64().unwrap()).await;
        assert_eq!((state.as_str(), attempts), ("failed", 1), "{id:?}");
    }
    let att = settled_attachment(&server, &cookie, "wamid.GOODID").await;
    assert_stored(&w, &att, &bytes, "image/jpeg");
    // The only requests were the good id's: no `GET /` with the token, nor any other.
    let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        vec![FakeGraph::graph_path(good), wa_cdn_path(good)],
        "requests for refused media ids reached the Graph API"
    );
    assert_no_token_leak(&server, &fake);
}

#[tokio::test]
async fn ipv6_forms_of_private_addresses_and_reserved_ranges_are_refused() {
    let fake = FakeGraph::start();
    let w = workdir(&fake, false);
    fake.set_default(Some(Resp::json(200, &json!({"first_name": "Guarded"}))));
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    // Each is refused before any connection: none of these is ever dialled.
    let urls = [
        "http://[::127.0.0.1]/cdn/v6/compatible.jpg",
        "http://[::ffff:10.0.0.1]/cdn/v6/mapped.jpg",
        "http://[64:ff9b::7f00:1]/cdn/v6/nat64.jpg",
        "http://[64:ff9b::a9fe:a9fe]/cdn/v6/nat64-metadata.jpg",
        "http://[2002:7f00:1::1]/cdn/v6/6to4.jpg",
        "http://[2002:c0a8:101::1]/cdn/v6/6to4-private.jpg",
        "http://198.18.0.1/cdn/v4/benchmarking.jpg",
        "http://100.64.0.1/cdn/v4/shared.jpg",
    ];
    for (i, url) in urls.iter().enumerate() {
        post(&server, "facebook", &fb_image(&format!("m_v6_{i}"), url)).await;
    }
    for (i, url) in urls.iter().enumerate() {
        let att = settled_attachment(&server, &cookie, &format!("m_v6_{i}")).await;
        assert_failed(&att, "private or loopback");
        let (state, attempts, _) = finished_job(&w, att["id"].as_i64().unwrap()).await;
        assert_eq!((state.as_str(), attempts), ("failed", 1), "{url}");
    }
    assert!(cdn_requests(&fake).is_empty());
    assert!(
        !server.stderr_text().contains("background jobs pause"),
        "a refused address was dialled: {}",
        tail(&server.stderr_text())
    );
}
