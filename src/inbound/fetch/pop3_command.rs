//! The commands of a POP3 fetch session and how they are sent and named
//! (see the parent module for the guarantees).

/// One POP3 command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Capa,
    Stls,
    User(String),
    Pass(String),
    Apop(String, String),
    /// `AUTH <mech> [initial response]`, the whole line.
    Auth(String),
    /// A base64 line answering an AUTH continuation.
    SaslResponse(String),
    Uidl,
    List,
    Retr(u32),
    Dele(u32),
    Quit,
}

impl Command {
    /// The line to send (without CR LF).
    pub fn line(&self) -> String {
        match self {
            Command::Capa => "CAPA".into(),
            Command::Stls => "STLS".into(),
            Command::User(u) => format!("USER {u}"),
            Command::Pass(p) => format!("PASS {p}"),
            Command::Apop(u, d) => format!("APOP {u} {d}"),
            Command::Auth(line) | Command::SaslResponse(line) => line.clone(),
            Command::Uidl => "UIDL".into(),
            Command::List => "LIST".into(),
            Command::Retr(n) => format!("RETR {n}"),
            Command::Dele(n) => format!("DELE {n}"),
            Command::Quit => "QUIT".into(),
        }
    }

    /// The command's name for messages: never an argument (PASS, AUTH and
    /// the SASL response carry the secret).
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop(..) => "APOP",
            Command::Auth(_) => "AUTH",
            Command::SaslResponse(_) => "the AUTH response",
            Command::Uidl => "UIDL",
            Command::List => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Quit => "QUIT",
        }
    }

    /// The server may answer with a `+ ` continuation (RFC 5034): the
    /// driver reads the raw line and gives [`Response::Continue`].
    pub fn is_sasl(&self) -> bool {
        matches!(self, Command::Auth(_) | Command::SaslResponse(_))
    }

    /// The response is a multi-line list (after `+OK`).
    pub fn is_list(&self) -> bool {
        matches!(self, Command::Capa | Command::Uidl | Command::List)
    }
}
