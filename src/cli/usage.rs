//! The `--help` text: the switches grouped by what a user wants to do.
//!
//! Kept next to the scanner so that a switch added there is added here in
//! the same change; a unit test checks that every switch the scanner
//! knows is mentioned.

/// Printed by `masqmail --help` (exit 0).
pub const USAGE: &str = "\
Usage: masqmail [OPTION]... [RECIPIENT]...
A mail transfer agent for hosts that are not always online; a drop-in
sendmail (also answers as sendmail, mailq, mailrm, runq, newaliases, smtpd).

Send a message (read from standard input):
  masqmail [-i] [-f SENDER] [-F NAME] RECIPIENT...
  masqmail -t [-i]          take the recipients from To:, Cc: and Bcc:
  -bm                       accept a message (the default with recipients)
  -i, -oi                   a line with a single dot does not end the message
  -f SENDER                 envelope sender (return path)
  -F NAME                   full name for the From: header
  -odq                      queue only, do not deliver now
  -odb                      deliver in the background
  -B TYPE, -m, -o...        accepted for sendmail compatibility, ignored

Run the daemon:
  -bd                       listen for SMTP (see listen_addresses)
  -bD                       the same, in the foreground
  -bd -qINTERVAL            listen and run the queue every INTERVAL (30m, 1h)
  -qINTERVAL                only run the queue every INTERVAL
  -go INTERVAL [NAME]       fetch mail every INTERVAL (0.2 fetch daemon)

Send the queue now:
  -q, runq                  deliver every queued message
  -qo NAME                  deliver over the routes of connection NAME;
                            without online_query/online_detect, NAME also
                            counts as online until --offline (ppp ip-up)
  --offline                 the connection of -qo NAME is down (ip-down)

Fetch mail (POP3, ODMR):
  -g [NAME]                 run every get file, or get.NAME only
  -go [NAME]                run the gets of the connection now online

Look at the queue:
  -bp, mailq                list the queued messages, with each waiting
                            recipient's last error
  -bp --json, mailq --json  the same as JSON, one object per message and line
                            (also -json)
  -Mrm ID..., mailrm ID...  remove messages from the queue
  -bt ADDRESS...            show what would happen to mail for ADDRESS now:
                            aliases, local or remote, route, rewriting,
                            transport (nothing is sent)

OAuth2 (Gmail, Microsoft 365, any provider by URL):
  -oauth2 NAME              authorize once for route or get file NAME: prints
                            what to open; the tokens go to its token file

Other:
  -bs, smtpd                speak SMTP on standard input and output
  -bi, newaliases           accepted for compatibility (no alias database)
  -C FILE                   use FILE as masqmail.conf
  -d LEVEL                  debug level (root only)
  -v                        also show log messages on the terminal
  -bV, --version            print the version
  --help                    print this help
  --                        the arguments after this are recipients

Exit status follows sysexits(3): 0 done, 64 usage error, 75 try again later.
See masqmail(8) and masqmail.conf(5).
";

#[cfg(test)]
mod tests {
    use super::USAGE;

    /// Every switch the scanner accepts is in the help text, so `--help`
    /// cannot fall behind the parser.
    #[test]
    fn help_mentions_every_switch() {
        for switch in [
            "-bm",
            "-bd",
            "-bD",
            "-bi",
            "-bs",
            "-bp",
            "-bV",
            "-Mrm",
            "-i",
            "-oi",
            "-m",
            "-odq",
            "-odb",
            "-t",
            "-v",
            "-B",
            "-C",
            "-d",
            "-f",
            "-F",
            "-o",
            "-qo",
            "-q",
            "-go",
            "-g",
            "-oauth2",
            "--json",
            "-json",
            "--version",
            "--help",
            "--offline",
            "--",
        ] {
            assert!(USAGE.contains(switch), "--help does not mention {switch}");
        }
        for line in USAGE.lines() {
            assert!(line.chars().count() <= 80, "help line too long: {line}");
        }
    }
}
