//! The embedded dashboard: `assets/` compiled into the binary.
//!
//! `index.html` is served with `no-cache` and its `/static/...` references rewritten
//! to `/static/<build hash>/...`; those fingerprinted URLs are cached for a year, since
//! a new build changes the hash. ETags let browsers revalidate cheaply.

use std::sync::OnceLock;

use poem::http::StatusCode;
use poem::web::Path;
use poem::{Request, Response, handler};
use sha2::{Digest, Sha256};

#[derive(rust_embed::RustEmbed)]
#[folder = "assets/"]
struct Assets;

struct Build {
    hash: String,
    index: String,
    index_etag: String,
}

fn build() -> &'static Build {
    static BUILD: OnceLock<Build> = OnceLock::new();
    BUILD.get_or_init(|| {
        let mut names: Vec<_> = Assets::iter().collect();
        names.sort();
        let mut h = Sha256::new();
        for name in &names {
            if let Some(f) = Assets::get(name) {
                h.update(name.as_bytes());
                h.update(f.metadata.sha256_hash());
            }
        }
        let hash = hex::encode(h.finalize())[..12].to_string();
        let raw = Assets::get("index.html")
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
            .unwrap_or_else(|| "<!doctype html><title>HelpStack</title>assets missing".into());
        let page = raw.replace("\"/static/", &format!("\"/static/{hash}/"));
        let index_etag = format!(
            "\"{}\"",
            &hex::encode(Sha256::digest(page.as_bytes()))[..16]
        );
        Build {
            hash,
            index: page,
            index_etag,
        }
    })
}

fn not_modified(req: &Request, etag: &str) -> bool {
    req.header("if-none-match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
}

/// `GET /`: the dashboard page.
#[handler]
pub fn index(req: &Request) -> Response {
    let b = build();
    let resp = Response::builder()
        .header("cache-control", "no-cache")
        .header("etag", b.index_etag.clone());
    if not_modified(req, &b.index_etag) {
        return resp.status(StatusCode::NOT_MODIFIED).finish();
    }
    resp.content_type("text/html; charset=utf-8")
        .body(b.index.clone())
}

/// `GET /static/*path`: an embedded file, long-cached when fingerprinted.
#[handler]
pub fn file(Path(path): Path<String>, req: &Request) -> Response {
    let b = build();
    let (name, fingerprinted) = match path.strip_prefix(&format!("{}/", b.hash)) {
        Some(rest) => (rest.to_string(), true),
        None => (path.clone(), false),
    };
    let Some(f) = Assets::get(&name) else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("text/plain; charset=utf-8")
            .body("not found");
    };
    let etag = format!("\"{}\"", &hex::encode(f.metadata.sha256_hash())[..16]);
    let cache = if fingerprinted {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let resp = Response::builder()
        .header("cache-control", cache)
        .header("etag", etag.clone());
    if not_modified(req, &etag) {
        return resp.status(StatusCode::NOT_MODIFIED).finish();
    }
    let mime = mime_guess::from_path(&name).first_or_octet_stream();
    resp.content_type(mime.essence_str())
        .body(f.data.into_owned())
}
