//! A fixed 302, as the JavaScript hello-world of the benchmark answers.
use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(_request: Request, _env: Env, _ctx: Context) -> Result<Response> {
    let mut response = Response::empty()?.with_status(302);
    let headers = response.headers_mut();
    headers.set("location", "https://offer.example/lp?aff_sub=x")?;
    headers.set("cache-control", "no-store")?;
    Ok(response)
}
