//! The embedded dashboard: `assets/` compiled into the binary.
//!
//! `index.html` is served with `no-cache` and its `/static/...` references rewritten
//! to `/static/<build hash>/...`; those fingerprinted URLs are cached for a year, since
//! a new build changes the hash. The ES modules' relative imports (`./api.js`) resolve
//! under the same hash. ETags let browsers revalidate cheaply.
//!
//! Text files go out brotli- or gzip-compressed when the request accepts it. Each file
//! is compressed once per encoding, at the best level, on its first such request (a
//! build step would need new build dependencies; per-response compression would redo
//! the work every time) and kept for the life of the process. Every encoding has its
//! own ETag, and every answer says `Vary: Accept-Encoding` so caches keep them apart.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use poem::http::StatusCode;
use poem::web::Path;
use poem::{Request, Response, handler};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

#[derive(rust_embed::RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// A file as served, with its compressed forms made on first demand (`None`: not
/// worth compressing).
struct Asset {
    data: &'static [u8],
    mime: &'static str,
    tag: String,
    br: OnceCell<Option<&'static [u8]>>,
    gzip: OnceCell<Option<&'static [u8]>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
    Br,
}

struct Build {
    hash: String,
    index: Asset,
    files: HashMap<String, Asset>,
}

/// Process-lifetime bytes: the set of files (and so of variants) is fixed, so leaking
/// them once is bounded; release builds embed them as `'static` already.
fn forever(data: Cow<'static, [u8]>) -> &'static [u8] {
    match data {
        Cow::Borrowed(b) => b,
        Cow::Owned(v) => Box::leak(v.into_boxed_slice()),
    }
}

fn mime_of(name: &str) -> &'static str {
    // Module scripts need a JavaScript type; name it exactly, whatever mime_guess says.
    if name.ends_with(".js") || name.ends_with(".mjs") {
        return "text/javascript; charset=utf-8";
    }
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    Box::leak(mime.essence_str().to_string().into_boxed_str())
}

fn asset(data: &'static [u8], mime: &'static str, tag: String) -> Asset {
    Asset {
        data,
        mime,
        tag,
        br: OnceCell::new(),
        gzip: OnceCell::new(),
    }
}

fn build() -> &'static Build {
    static BUILD: OnceLock<Build> = OnceLock::new();
    BUILD.get_or_init(|| {
        let mut names: Vec<_> = Assets::iter().collect();
        names.sort();
        let mut h = Sha256::new();
        let mut files = HashMap::new();
        for name in &names {
            if let Some(f) = Assets::get(name) {
                h.update(name.as_bytes());
                h.update(f.metadata.sha256_hash());
                let tag = hex::encode(f.metadata.sha256_hash())[..16].to_string();
                files.insert(name.to_string(), asset(forever(f.data), mime_of(name), tag));
            }
        }
        let hash = hex::encode(h.finalize())[..12].to_string();
        let raw = files.get("index.html").map_or_else(
            || "<!doctype html><title>HelpStack</title>assets missing".into(),
            |f| String::from_utf8_lossy(f.data).into_owned(),
        );
        let page = raw.replace("\"/static/", &format!("\"/static/{hash}/"));
        let tag = hex::encode(Sha256::digest(page.as_bytes()))[..16].to_string();
        let page = forever(Cow::Owned(page.into_bytes()));
        Build {
            hash,
            index: asset(page, "text/html; charset=utf-8", tag),
            files,
        }
    })
}

/// The coding to send: the accepted one (q above 0; `*` stands for any not named) with
/// the highest q, brotli on a tie; identity when neither is accepted or the header is
/// missing.
fn negotiate(req: &Request) -> Encoding {
    let mut named: Vec<(String, f32)> = Vec::new();
    for value in req.headers().get_all("accept-encoding") {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0;
            for p in parts {
                if let Some(v) = p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")) {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            if !coding.is_empty() {
                named.push((coding, q));
            }
        }
    }
    let q_of = |coding: &str| {
        let find = |c: &str| named.iter().find(|(n, _)| n == c).map(|(_, q)| *q);
        find(coding).or_else(|| find("*")).unwrap_or(0.0)
    };
    let (br, gzip) = (q_of("br"), q_of("gzip"));
    if br > 0.0 && br >= gzip {
        Encoding::Br
    } else if gzip > 0.0 {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

fn compressible(mime: &str) -> bool {
    mime.starts_with("text/")
        || mime.starts_with("image/svg+xml")
        || mime.starts_with("application/json")
}

/// The bytes and the coding actually sent: identity when compression does not pay.
async fn variant(a: &Asset, wanted: Encoding) -> (&'static [u8], Encoding) {
    let cell = match wanted {
        _ if !compressible(a.mime) => return (a.data, Encoding::Identity),
        Encoding::Identity => return (a.data, Encoding::Identity),
        Encoding::Gzip => &a.gzip,
        Encoding::Br => &a.br,
    };
    match cell.get_or_init(|| compress(a.data, wanted)).await {
        Some(bytes) => (bytes, wanted),
        None => (a.data, Encoding::Identity),
    }
}

/// Compresses off the async workers (best-level brotli takes a while), keeping the
/// result only if it is smaller.
async fn compress(data: &'static [u8], encoding: Encoding) -> Option<&'static [u8]> {
    use std::io::Write;
    let out = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        match encoding {
            Encoding::Identity => Ok(data.to_vec()),
            Encoding::Gzip => {
                let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                z.write_all(data)?;
                z.finish()
            }
            Encoding::Br => {
                let mut out = Vec::new();
                let params = brotli::enc::BrotliEncoderParams {
                    quality: 11,
                    ..Default::default()
                };
                brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
                Ok(out)
            }
        }
    })
    .await
    .ok()?
    .ok()?;
    (out.len() < data.len()).then(|| forever(Cow::Owned(out)))
}

fn not_modified(req: &Request, etag: &str) -> bool {
    req.header("if-none-match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
}

async fn serve(req: &Request, a: &Asset, cache: &'static str) -> Response {
    let (body, encoding) = variant(a, negotiate(req)).await;
    let (etag, coding) = match encoding {
        Encoding::Identity => (format!("\"{}\"", a.tag), None),
        Encoding::Gzip => (format!("\"{}-gzip\"", a.tag), Some("gzip")),
        Encoding::Br => (format!("\"{}-br\"", a.tag), Some("br")),
    };
    let mut resp = Response::builder()
        .header("cache-control", cache)
        .header("vary", "accept-encoding")
        .header("etag", etag.clone());
    if not_modified(req, &etag) {
        return resp.status(StatusCode::NOT_MODIFIED).finish();
    }
    if let Some(coding) = coding {
        resp = resp.header("content-encoding", coding);
    }
    resp.content_type(a.mime).body(body)
}

/// `GET /`: the dashboard page.
#[handler]
pub async fn index(req: &Request) -> Response {
    serve(req, &build().index, "no-cache").await
}

/// `GET /static/*path`: an embedded file, long-cached when fingerprinted.
#[handler]
pub async fn file(Path(path): Path<String>, req: &Request) -> Response {
    let b = build();
    let (name, fingerprinted) = match path.strip_prefix(&format!("{}/", b.hash)) {
        Some(rest) => (rest, true),
        None => (path.as_str(), false),
    };
    let Some(a) = b.files.get(name) else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("text/plain; charset=utf-8")
            .body("not found");
    };
    let cache = if fingerprinted {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    serve(req, a, cache).await
}
