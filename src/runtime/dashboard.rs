//! `/admin`: the dashboard (design §9), one self-contained page (no CDN). It signs in
//! with the admin token and uses the admin API. Its files are string constants of the
//! worker's JavaScript entry (`build/dashboard.mjs`, written by scripts/build-worker.sh
//! from `assets/admin/`, minified), read here from `globalThis.EDGEBACK_DASHBOARD`:
//! not part of the wasm, which every cold start compiles (they were 12 KB of its gzipped
//! size, design §13), and not the deployment's `[assets]`, whose router ran in front of
//! every request, clicks included (docs/performance.md). The security headers are set
//! here.

use super::respond;
use worker::js_sys::{global, Reflect};
use worker::{Response, Result};

/// The global the entry module puts the dashboard's files in, by path.
const FILES: &str = "EDGEBACK_DASHBOARD";

/// The text of the dashboard file at `path`, if the entry module provided it.
fn file(path: &str) -> Option<String> {
    let files = Reflect::get(&global(), &FILES.into()).ok()?;
    Reflect::get(&files, &path.into()).ok()?.as_string()
}

/// Everything comes from this origin; nothing inline, no framing.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn serve(path: &str) -> Result<Response> {
    let text = "text/plain; charset=utf-8";
    let (content_type, file_path) = match path {
        "/admin" | "/admin/" => ("text/html; charset=utf-8", "/admin/index.html"),
        "/admin/app.js" => ("text/javascript; charset=utf-8", "/admin/app.js"),
        "/admin/app.css" => ("text/css; charset=utf-8", "/admin/app.css"),
        _ => return respond(404, text, "not found"),
    };
    let Some(body) = file(file_path) else {
        return respond(
            503,
            text,
            "the dashboard's files are missing: wrangler.toml's `main` must be \
             build/entry.mjs (README, \"Deploying\")",
        );
    };
    let mut response = respond(200, content_type, body)?;
    let headers = response.headers_mut();
    headers.set("content-security-policy", CSP)?;
    headers.set("x-frame-options", "DENY")?;
    headers.set("referrer-policy", "no-referrer")?;
    Ok(response)
}
