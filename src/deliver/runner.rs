//! The state of one delivery run: config, spool, the alias tables read
//! fresh for this run, its scope, and the notices it spooled.

use crate::accept::{self, Submission};
use crate::alias::{AliasContext, AliasTable, FileTrust};
use crate::bounce::Notice;
use crate::config::Config;
use crate::message::read::{ReadOptions, read_message};
use crate::message::{Protocol, QueueId};
use crate::spool::Spool;

pub struct Runner<'a> {
    pub cfg: &'a Config,
    pub spool: &'a Spool,
    glob: Option<AliasTable>,
    normal: Option<AliasTable>,
    /// Notices spooled during this run, to be delivered after it.
    pub notices: Vec<QueueId>,
    transfer: u32,
    /// `-qo NAME`: the connection, instead of asking online detection.
    pub connection: Option<String>,
    /// Permanent routes and the online set, read at first need.
    pub routes: Option<Vec<crate::config::Route>>,
}

impl<'a> Runner<'a> {
    /// Reads the alias tables (an unreadable one is logged and empty,
    /// delivery.md §6 step 1).
    pub fn new(cfg: &'a Config, spool: &'a Spool) -> Runner<'a> {
        let trust = FileTrust::system(cfg.run_as_user);
        let load = |p: &Option<std::path::PathBuf>| {
            p.as_ref()
                .and_then(|p| match AliasTable::load_trusting(p, &trust) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        tracing::error!("cannot read alias file: {e}");
                        None
                    }
                })
        };
        Runner {
            cfg,
            spool,
            glob: load(&cfg.globalias_file),
            normal: load(&cfg.alias_file),
            notices: Vec::new(),
            transfer: 0,
            connection: None,
            routes: None,
        }
    }

    pub fn alias_context(&self) -> AliasContext<'_> {
        AliasContext {
            globalias: self.glob.as_ref(),
            alias: self.normal.as_ref(),
            locality: self.cfg.locality(),
            host_name: &self.cfg.host_name,
            caseless: self.cfg.caseless_matching,
        }
    }

    /// Spools a notice as an ordinary local submission with the null
    /// sender. Done in-process, so it works whoever triggered the run
    /// (delivery.md §18 item 16).
    pub fn submit_notice(&mut self, notice: Notice) -> Result<QueueId, Box<dyn std::error::Error>> {
        let opts = ReadOptions {
            dot_ends: false,
            eof_is_error: false,
            max_body: 0,
        };
        let raw = read_message(&mut notice.text.as_slice(), &opts)?;
        let (uid, ident) = crate::privs::current_login();
        let sub = Submission {
            return_path: crate::address::Address::null(),
            recipients: vec![notice.recipient],
            recipients_from_headers: false,
            full_name: None,
            protocol: Protocol::Local,
            received_host: None,
            ident: Some(ident),
            uid,
        };
        self.transfer += 1;
        let msg = accept::accept(self.cfg, self.spool, sub, raw, self.transfer)?;
        self.notices.push(msg.id.clone());
        Ok(msg.id)
    }
}
