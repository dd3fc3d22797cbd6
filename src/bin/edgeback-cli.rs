//! Native tools for edgeback operators.
//!
//! `edgeback-cli check-config [wrangler.toml] [--env NAME] [--secrets A,B] [--dev-vars
//! PATH | --no-dev-vars] [--config-only]`: validates `[vars.EDGEBACK]` of the top level
//! and of every `[env.NAME]` in the file (or only `--env`), printing every error with its
//! key path and a "did you mean" for near misses; then what a deploy needs besides: real
//! D1 database and KV namespace ids (not the all-zero placeholders) and every secret the
//! configuration names, found in `.dev.vars` or in the `--secrets` list (offline, the
//! deployed secrets cannot be seen: `wrangler secret list` shows them when logged in).
//! Exits 1 when anything is wrong, so it can gate `wrangler deploy`.
//!
//! `edgeback-cli d1-bindings [wrangler.toml] [--env NAME]`: prints the D1 binding names of
//! an environment, one a line (for `make deploy`, which migrates each).
//!
//! `edgeback-cli sign-postback URL [name=value …]`: prints the URL with `ts` (now, unless
//! given) and `sig` added, signed as `auth.hmac` expects (docs/signing.md). The secret is
//! read from the environment variable `EDGEBACK_HMAC_SECRET`, never from the command line
//! (which shell history and process lists keep). `--param NAME` and `--timestamp-param
//! NAME` match a network's non-default names.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(native::main(std::env::args().skip(1).collect()));
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use edgeback::config::{Config, VAR_NAME};

    const USAGE: &str = "usage: edgeback-cli check-config [wrangler.toml] [--env NAME] [--secrets NAME,NAME...]\n\
        \x20                                [--dev-vars PATH | --no-dev-vars] [--config-only]\n\
        \x20      edgeback-cli d1-bindings [wrangler.toml] [--env NAME]\n\
        \x20      EDGEBACK_HMAC_SECRET=... edgeback-cli sign-postback [--param sig] [--timestamp-param ts] URL [name=value ...]\n\
        \n\
        check-config   validate [vars.EDGEBACK] of every environment (or --env), then what a deploy\n\
        \x20              needs: real D1 and KV ids, and every secret the configuration names, found in\n\
        \x20              .dev.vars (beside wrangler.toml, or --dev-vars) or in --secrets. Offline it\n\
        \x20              cannot see deployed secrets: list them with `npx wrangler secret list` and\n\
        \x20              pass the names with --secrets (make deploy does). --config-only skips the\n\
        \x20              deploy checks. Exits 1 on any problem.\n\
        d1-bindings    print the D1 binding names of an environment (make deploy migrates each)\n\
        sign-postback  print URL signed as auth.hmac expects (docs/signing.md)";

    pub fn main(args: Vec<String>) -> i32 {
        match args.first().map(String::as_str) {
            Some("--help" | "-h" | "help") => {
                println!("{USAGE}");
                0
            }
            Some("check-config") => match CheckOptions::parse(args.get(1..).unwrap_or_default()) {
                Ok(options) => check_config(&options),
                Err(message) => {
                    eprintln!("{message}\n{USAGE}");
                    2
                }
            },
            Some("d1-bindings") => match CheckOptions::parse(args.get(1..).unwrap_or_default()) {
                Ok(options) => d1_bindings(&options),
                Err(message) => {
                    eprintln!("{message}\n{USAGE}");
                    2
                }
            },
            Some("sign-postback") => match std::env::var("EDGEBACK_HMAC_SECRET") {
                Ok(secret) if !secret.is_empty() => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|elapsed| elapsed.as_secs())
                        .unwrap_or_default();
                    match sign_postback(&secret, args.get(1..).unwrap_or_default(), now) {
                        Ok(url) => {
                            println!("{url}");
                            0
                        }
                        Err(message) => {
                            eprintln!("{message}\n{USAGE}");
                            2
                        }
                    }
                }
                _ => {
                    eprintln!("set EDGEBACK_HMAC_SECRET to the network's HMAC secret\n{USAGE}");
                    2
                }
            },
            _ => {
                eprintln!("{USAGE}");
                2
            }
        }
    }

    /// The signed URL for `args` (`[--param P] [--timestamp-param T] URL name=value…`).
    pub fn sign_postback(
        secret: &str,
        args: &[String],
        now_seconds: u64,
    ) -> Result<String, String> {
        let mut signature_param = "sig".to_string();
        let mut timestamp_param = "ts".to_string();
        let mut rest = args.iter();
        let mut base = None;
        let mut params: Vec<(String, String)> = Vec::new();
        while let Some(arg) = rest.next() {
            match arg.as_str() {
                "--param" => signature_param = rest.next().ok_or("--param needs a name")?.clone(),
                "--timestamp-param" => {
                    timestamp_param = rest.next().ok_or("--timestamp-param needs a name")?.clone()
                }
                _ if base.is_none() => base = Some(arg.clone()),
                pair => {
                    let (name, value) = pair
                        .split_once('=')
                        .ok_or_else(|| format!("{pair:?} is not name=value"))?;
                    params.push((name.to_string(), value.to_string()));
                }
            }
        }
        let base = base.ok_or("missing URL")?;
        if !params.iter().any(|(name, _)| *name == timestamp_param) {
            params.push((timestamp_param, now_seconds.to_string()));
        }
        let signature = edgeback::postback::auth::sign_params(secret, &params, &signature_param);
        params.push((signature_param, signature));
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        let separator = if base.contains('?') { '&' } else { '?' };
        Ok(format!("{base}{separator}{query}"))
    }

    /// The `[vars.EDGEBACK]` table of each environment: `(label, table or None)`.
    /// Wrangler does not inherit `vars` into environments, so each is checked alone.
    pub fn environments(document: &toml::Table) -> Vec<(String, Option<toml::Value>)> {
        let edgeback = |table: &toml::Table| {
            table
                .get("vars")
                .and_then(|vars| vars.get(VAR_NAME))
                .cloned()
        };
        let mut found = vec![("top level".to_string(), edgeback(document))];
        if let Some(envs) = document.get("env").and_then(toml::Value::as_table) {
            for (name, value) in envs {
                let table = value.as_table().and_then(edgeback);
                found.push((format!("env.{name}"), table));
            }
        }
        found
    }

    /// Options of `check-config` and `d1-bindings`.
    #[derive(Debug, Default)]
    pub struct CheckOptions {
        pub path: String,
        pub env: Option<String>,
        /// Secret names known to be set (`wrangler secret list`).
        pub secrets: Vec<String>,
        /// `Some(path)`: read secret names from this `.dev.vars`; `None`: ignore it.
        pub dev_vars: Option<String>,
        pub config_only: bool,
    }

    impl CheckOptions {
        pub fn parse(args: &[String]) -> Result<Self, String> {
            let mut options = CheckOptions::default();
            let mut path = None;
            let mut dev_vars: Option<Option<String>> = None;
            let mut rest = args.iter();
            while let Some(arg) = rest.next() {
                let mut value = |name: &str| {
                    rest.next()
                        .cloned()
                        .ok_or_else(|| format!("{name} needs a value"))
                };
                match arg.as_str() {
                    "--env" => options.env = Some(value("--env")?),
                    "--secrets" => options.secrets.extend(
                        value("--secrets")?
                            .split([',', ' ', '\n'])
                            .map(str::trim)
                            .filter(|name| !name.is_empty())
                            .map(str::to_string),
                    ),
                    "--dev-vars" => dev_vars = Some(Some(value("--dev-vars")?)),
                    "--no-dev-vars" => dev_vars = Some(None),
                    "--config-only" => options.config_only = true,
                    flag if flag.starts_with("--") => {
                        return Err(format!("unknown option {flag}"));
                    }
                    _ if path.is_none() => path = Some(arg.clone()),
                    extra => return Err(format!("unexpected argument {extra:?}")),
                }
            }
            options.path = path.unwrap_or_else(|| "wrangler.toml".into());
            // wrangler reads `.dev.vars` beside the configuration file.
            options.dev_vars = dev_vars.unwrap_or_else(|| {
                let dir = std::path::Path::new(&options.path)
                    .parent()
                    .unwrap_or(std::path::Path::new(""));
                Some(dir.join(".dev.vars").to_string_lossy().into_owned())
            });
            Ok(options)
        }
    }

    /// The names a `.dev.vars` file sets (`NAME=value` lines; `#` comments).
    pub fn dev_var_names(text: &str) -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .map(|(name, _)| name.trim().trim_start_matches("export ").trim().to_string())
            .filter(|name| !name.is_empty())
            .collect()
    }

    /// Whether an id is wrangler.toml's placeholder (all zeros, dashes allowed) or empty.
    pub fn is_placeholder_id(id: &str) -> bool {
        id.chars().all(|c| c == '0' || c == '-')
    }

    /// The table of environment `label` (`top level` or `env.NAME`).
    fn section<'a>(document: &'a toml::Table, label: &str) -> Option<&'a toml::Table> {
        match label.strip_prefix("env.") {
            None => Some(document),
            Some(name) => document
                .get("env")
                .and_then(|envs| envs.get(name))
                .and_then(toml::Value::as_table),
        }
    }

    /// Problems of the bindings a deploy needs: a D1 database bound as `DB` and a KV
    /// namespace bound as `CAMPAIGNS`, each with a real id. Wrangler does not inherit
    /// bindings into `[env.NAME]`, so each environment needs its own.
    pub fn binding_problems(table: &toml::Table) -> Vec<String> {
        let mut problems = Vec::new();
        let entries = |key: &str| -> Vec<toml::Table> {
            table
                .get(key)
                .and_then(toml::Value::as_array)
                .map(|list| list.iter().filter_map(|v| v.as_table().cloned()).collect())
                .unwrap_or_default()
        };
        let text = |entry: &toml::Table, key: &str| {
            entry
                .get(key)
                .and_then(toml::Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let databases = entries("d1_databases");
        for (index, database) in databases.iter().enumerate() {
            if is_placeholder_id(&text(database, "database_id")) {
                problems.push(format!(
                    "d1_databases[{index}].database_id: {:?} is the placeholder; put the \
                     database_id printed by `npx wrangler d1 create {}` here",
                    text(database, "database_id"),
                    text(database, "database_name")
                ));
            }
        }
        if !databases.iter().any(|d| text(d, "binding") == "DB") {
            problems.push(
                "d1_databases: no database bound as \"DB\" (see the README, Deploying)".into(),
            );
        }
        let namespaces = entries("kv_namespaces");
        for (index, namespace) in namespaces.iter().enumerate() {
            if is_placeholder_id(&text(namespace, "id")) {
                problems.push(format!(
                    "kv_namespaces[{index}].id: {:?} is the placeholder; put the id printed \
                     by `npx wrangler kv namespace create {}` here",
                    text(namespace, "id"),
                    text(namespace, "binding")
                ));
            }
        }
        if !namespaces.iter().any(|n| text(n, "binding") == "CAMPAIGNS") {
            problems.push(
                "kv_namespaces: no namespace bound as \"CAMPAIGNS\" (see the README, Deploying)"
                    .into(),
            );
        }
        problems
    }

    fn read_document(path: &str) -> Result<toml::Table, i32> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            eprintln!("{path}: {error}");
            2
        })?;
        toml::from_str(&text).map_err(|error| {
            eprintln!("{path}: not valid TOML: {error}");
            1
        })
    }

    fn chosen_environments(
        document: &toml::Table,
        env: Option<&str>,
    ) -> Result<Vec<(String, Option<toml::Value>)>, String> {
        let all = environments(document);
        match env {
            None => Ok(all),
            Some(name) => {
                let label = format!("env.{name}");
                let found: Vec<_> = all.into_iter().filter(|(l, _)| *l == label).collect();
                if found.is_empty() {
                    let names: Vec<String> = environments(document)
                        .into_iter()
                        .filter_map(|(l, _)| l.strip_prefix("env.").map(str::to_string))
                        .collect();
                    Err(format!(
                        "no [env.{name}] in the file{}",
                        edgeback::suggest::hint(name, names.iter().map(String::as_str))
                    ))
                } else {
                    Ok(found)
                }
            }
        }
    }

    /// The `binding` of every `[[d1_databases]]` entry of one environment's table.
    fn d1_binding_names(table: &toml::Table) -> Vec<String> {
        table
            .get("d1_databases")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|database| database.get("binding").and_then(toml::Value::as_str))
            .map(str::to_string)
            .collect()
    }

    fn d1_bindings(options: &CheckOptions) -> i32 {
        let document = match read_document(&options.path) {
            Ok(document) => document,
            Err(code) => return code,
        };
        let label = options
            .env
            .as_ref()
            .map_or("top level".to_string(), |name| format!("env.{name}"));
        let Some(table) = section(&document, &label) else {
            eprintln!("{}: no [{label}]", options.path);
            return 1;
        };
        for binding in d1_binding_names(table) {
            println!("{binding}");
        }
        0
    }

    fn check_config(options: &CheckOptions) -> i32 {
        let path = options.path.as_str();
        let document = match read_document(path) {
            Ok(document) => document,
            Err(code) => return code,
        };
        let chosen = match chosen_environments(&document, options.env.as_deref()) {
            Ok(chosen) => chosen,
            Err(message) => {
                eprintln!("{path}: {message}");
                return 1;
            }
        };
        let dev_vars: Vec<String> = options
            .dev_vars
            .as_deref()
            .and_then(|file| std::fs::read_to_string(file).ok())
            .map(|text| dev_var_names(&text))
            .unwrap_or_default();
        let mut failed = false;
        let mut secrets_checked = false;
        for (label, table) in chosen {
            let mut errors: Vec<String> = Vec::new();
            let mut summary = None;
            if !options.config_only {
                if let Some(section) = section(&document, &label) {
                    errors.extend(binding_problems(section));
                }
            }
            match table {
                None => errors.push(format!("{VAR_NAME}: missing [vars.{VAR_NAME}] table")),
                Some(table) => match serde_json::to_value(&table) {
                    Err(error) => errors.push(format!("{VAR_NAME}: {error}")),
                    // The zone must exist too: the worker asks `Intl`, this the tz database.
                    Ok(json) => match Config::from_json(json).and_then(|config| {
                        config.check_timezone(&edgeback::zone::tzdb::Tzdb)?;
                        Ok(config)
                    }) {
                        Err(found) => errors.extend(found.0.iter().map(ToString::to_string)),
                        Ok(config) => {
                            summary = Some(format!(
                                "{} campaigns, {} networks",
                                config.campaigns.len(),
                                config.networks.len()
                            ));
                            if !options.config_only {
                                let bound = section(&document, &label)
                                    .map(d1_binding_names)
                                    .unwrap_or_default();
                                for (index, name) in
                                    config.storage.click_databases.iter().enumerate()
                                {
                                    if !bound.contains(name) {
                                        errors.push(format!(
                                            "{VAR_NAME}.storage.click_databases[{index}]: no \
                                             [[d1_databases]] bound as \"{name}\" in [{label}]{}",
                                            edgeback::suggest::hint(
                                                name,
                                                bound.iter().map(String::as_str)
                                            )
                                        ));
                                    }
                                }
                                secrets_checked = true;
                                for needed in edgeback::secrets::needed(&config) {
                                    let known = dev_vars.contains(&needed.name)
                                        || options.secrets.contains(&needed.name);
                                    if !known {
                                        errors.push(format!(
                                            "secret {} ({}) is in neither {} nor \
                                             --secrets: set it with `npx wrangler secret put {}{}`",
                                            needed.name,
                                            needed.needed_by,
                                            options.dev_vars.as_deref().unwrap_or("(no .dev.vars)"),
                                            needed.name,
                                            label
                                                .strip_prefix("env.")
                                                .map(|env| format!(" --env {env}"))
                                                .unwrap_or_default(),
                                        ));
                                    }
                                }
                            }
                        }
                    },
                },
            }
            if errors.is_empty() {
                println!("{path} [{label}]: ok ({})", summary.unwrap_or_default());
            } else {
                failed = true;
                for error in errors {
                    eprintln!("{path} [{label}]: {error}");
                }
            }
        }
        if secrets_checked {
            println!(
                "note: secrets were looked up by name in {} and --secrets; offline, the deployed \
                 ones cannot be seen. When logged in, `npx wrangler secret list` shows them \
                 (make deploy passes them with --secrets).",
                options.dev_vars.as_deref().unwrap_or("(no .dev.vars)")
            );
        }
        i32::from(failed)
    }
}
