//! `/admin`: the dashboard (design §9), one self-contained page whose assets the worker
//! serves itself (no CDN). It signs in with the admin token and uses the admin API.

use super::respond;
use worker::{Response, Result};

const INDEX: &str = include_str!("../../assets/admin/index.html");
// Minified by build.rs (esbuild) from assets/admin/: the wasm carries them (design §13).
const SCRIPT: &str = include_str!(concat!(env!("OUT_DIR"), "/app.js"));
const STYLE: &str = include_str!(concat!(env!("OUT_DIR"), "/app.css"));

/// Everything comes from this origin; nothing inline, no framing.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn serve(path: &str) -> Result<Response> {
    let (content_type, body) = match path {
        "/admin" | "/admin/" => ("text/html; charset=utf-8", INDEX),
        "/admin/app.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "/admin/app.css" => ("text/css; charset=utf-8", STYLE),
        _ => return respond(404, "text/plain; charset=utf-8", "not found"),
    };
    let mut response = respond(200, content_type, body)?;
    let headers = response.headers_mut();
    headers.set("content-security-policy", CSP)?;
    headers.set("x-frame-options", "DENY")?;
    headers.set("referrer-policy", "no-referrer")?;
    Ok(response)
}
