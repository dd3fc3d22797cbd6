//! The dashboard's script and style sheet, minified for the worker (design §13: the
//! wasm carries them, and every cold start loads the wasm) by esbuild from the npm
//! packages (`scripts/tools.sh` installs it with wrangler). Where esbuild is missing
//! (a bare `cargo test --lib`, a clone without `make tools`) or fails, the files are
//! taken as they are, with a warning: same behaviour, a few KB larger.

use std::path::Path;
use std::process::Command;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let out = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    let esbuild = Path::new(&root).join("node_modules/.bin/esbuild");
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "wasm32");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", esbuild.display());
    for name in ["app.js", "app.css"] {
        let source = Path::new(&root).join("assets/admin").join(name);
        println!("cargo:rerun-if-changed={}", source.display());
        let target = Path::new(&out).join(name);
        // Only the worker serves the dashboard; native builds need no esbuild.
        let minified = if wasm {
            minify(&esbuild, &source)
        } else {
            None
        };
        let written = match minified {
            Some(text) => std::fs::write(&target, text),
            None => {
                if wasm {
                    println!(
                        "cargo:warning=esbuild ({}) did not minify {name}; serving it as it is \
                         (run scripts/tools.sh)",
                        esbuild.display()
                    );
                }
                std::fs::copy(&source, &target).map(|_| ())
            }
        };
        if let Err(error) = written {
            println!("cargo:warning={}: {error}", target.display());
            std::process::exit(1);
        }
    }
}

/// esbuild's `--minify` (whitespace, syntax, local names; a script's top-level names
/// stay as they are), or `None` when esbuild is missing or fails.
fn minify(esbuild: &Path, source: &Path) -> Option<Vec<u8>> {
    let output = Command::new(esbuild)
        .arg("--minify")
        .arg("--log-level=error")
        .arg(source)
        .output()
        .ok()?;
    (output.status.success() && !output.stdout.is_empty()).then_some(output.stdout)
}
