//! `masqmail -oauth2 NAME` (issue 10): authorize masqmail once at an
//! OAuth2 provider for a route or get file, and keep the refresh token in
//! its token file. Later deliveries and fetches refresh the access token
//! themselves (`oauth2::access_token`).
//!
//! NAME is a path to a route or get file, or the file name of one the
//! configuration names (`get.NAME`, or a route file in `permanent_routes`,
//! `query_routes.*`, `local_net_route`). The device flow is used when the
//! file has a device endpoint (Microsoft), else the loopback redirect with
//! PKCE (Google).
//!
//! # Security
//! Only a privileged caller may run it (as for fetching). The user code and
//! the URLs are printed; the tokens and the device code never are: they go
//! from the token endpoint straight into the token file (mode 0600, owned
//! by the effective user: the mail user unless `run_as_user`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Exit, code};
use crate::config::{Config, GetConf, OAuth2Conf, Route};
use crate::oauth2::{self, DeviceFlow, LoopbackFlow};
use crate::privs;

/// How long the loopback flow waits for the browser.
const BROWSER_WAIT: Duration = Duration::from_secs(600);

pub fn run(cfg: &Config, name: &str) -> Result<i32, Exit> {
    if !privs::is_privileged(cfg.run_as_user) {
        return Err(Exit::fail(format!(
            "must be root, {} or in group {} to authorize.",
            privs::MAIL_USER,
            privs::MAIL_GROUP
        )));
    }
    let conf = find(cfg, name)?;
    let tokens = match &conf.device_url {
        Some(_) => oauth2::device_flow(&conf, &mut |f: &DeviceFlow| {
            println!(
                "To authorize masqmail for {}, open {} and enter the code {}",
                conf.name, f.verification_uri, f.user_code
            );
            if let Some(direct) = &f.verification_uri_complete {
                println!("(or open {direct})");
            }
            println!(
                "Waiting for the approval (the code is valid for {} minutes)...",
                f.expires_in.as_secs().div_ceil(60)
            );
        }),
        None => oauth2::loopback_flow(
            &conf,
            &mut |f: &LoopbackFlow| {
                println!(
                    "To authorize masqmail for {}, open this URL in a browser on this machine:",
                    conf.name
                );
                println!("{}", f.url);
                println!("Waiting for the browser...");
            },
            BROWSER_WAIT,
        ),
    };
    let stored = tokens.and_then(|t| {
        let _lock = oauth2::token_file_lock(&conf)?;
        oauth2::store_tokens(&conf, &t)
    });
    match stored {
        Ok(()) => {
            tracing::info!(
                "{}: OAuth2 authorization stored in {}",
                conf.name,
                conf.token_file.display()
            );
            println!(
                "Authorized; the tokens are in {}",
                conf.token_file.display()
            );
            Ok(code::OK)
        }
        Err(e) => {
            tracing::warn!("{}: {e}", conf.name);
            Err(Exit::new(code::TEMPFAIL, e.to_string()))
        }
    }
}

/// The OAuth2 settings of the route or get file NAME.
fn find(cfg: &Config, name: &str) -> Result<OAuth2Conf, Exit> {
    let path = resolve(cfg, name)?;
    // Route and get files may be readable by root only.
    let route = privs::as_root(|| Route::load(&path, cfg));
    let found = match route {
        Ok(r) => r.oauth2,
        Err(route_err) => match privs::as_root(|| GetConf::load_login(&path, cfg)) {
            Ok(g) => g.oauth2,
            Err(get_err) => {
                return Err(Exit::new(
                    code::CONFIG,
                    format!(
                        "{name}: neither a route file ({route_err}) nor a get file ({get_err})"
                    ),
                ));
            }
        },
    };
    found.ok_or_else(|| {
        Exit::fail(format!(
            "{}: no oauth2_* options (see masqmail.route(5))",
            path.display()
        ))
    })
}

/// NAME as a path (it has a `/`), else among the configured files.
fn resolve(cfg: &Config, name: &str) -> Result<PathBuf, Exit> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    if let Some((_, p)) = cfg.gets.iter().find(|(n, _)| n == name) {
        return Ok(p.clone());
    }
    let routes = cfg
        .permanent_routes
        .iter()
        .chain(cfg.query_routes.iter().flat_map(|(_, l)| l))
        .chain(&cfg.local_net_route);
    let same = |p: &&PathBuf| {
        p.file_name()
            .is_some_and(|f| Path::new(f) == Path::new(name))
    };
    routes.into_iter().find(same).cloned().ok_or_else(|| {
        Exit::fail(format!(
            "no route or get file named {name} in the configuration (give its path)"
        ))
    })
}
