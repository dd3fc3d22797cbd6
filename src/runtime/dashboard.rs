//! `/admin`: the dashboard (design §9), one self-contained page (no CDN). It signs in
//! with the admin token and uses the admin API. Its files are the deployment's static
//! assets (`[assets]` in wrangler.toml, built into `build/assets/` by
//! scripts/build-worker.sh), not part of the wasm: every cold start loads the wasm, and
//! they were 12 KB of its gzipped size (design §13, BENCHMARKS.md). The worker still
//! answers every `/admin` request itself (`run_worker_first`), reading the file from the
//! `ASSETS` binding, so the security headers stay here.

use super::respond;
use worker::{Env, Response, Result};

/// The binding of the deployment's static assets.
const ASSETS: &str = "ASSETS";

/// Everything comes from this origin; nothing inline, no framing.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub async fn serve(env: &Env, url: &url::Url, path: &str) -> Result<Response> {
    let text = "text/plain; charset=utf-8";
    let (content_type, file) = match path {
        "/admin" | "/admin/" => ("text/html; charset=utf-8", "/admin/index.html"),
        "/admin/app.js" => ("text/javascript; charset=utf-8", "/admin/app.js"),
        "/admin/app.css" => ("text/css; charset=utf-8", "/admin/app.css"),
        _ => return respond(404, text, "not found"),
    };
    let missing = "the dashboard's files are not deployed: wrangler.toml needs its [assets] \
                   table (README, \"Deploying\")";
    let Ok(assets) = env.assets(ASSETS) else {
        return respond(503, text, missing);
    };
    let mut location = url.clone();
    location.set_path(file);
    location.set_query(None);
    let mut found = assets.fetch(location.as_str(), None).await?;
    if found.status_code() != 200 {
        return respond(503, text, missing);
    }
    let mut response = respond(200, content_type, found.bytes().await?)?;
    let headers = response.headers_mut();
    headers.set("content-security-policy", CSP)?;
    headers.set("x-frame-options", "DENY")?;
    headers.set("referrer-policy", "no-referrer")?;
    Ok(response)
}
