//! masqmail: a mail transfer agent for hosts that are not always online.
//!
//! The road of a message, and where each step lives:
//!
//! ```text
//!  mode (argv: cli) ── stdin ─┐
//!  daemon ─► inbound::smtp ───┼─► accept ─► spool ─► queue ─► deliver ─► bounce
//!  (inbound fetch, later) ────┘     ▲                           │   local: alias, mbox, Maildir, MDA, pipe
//!                                   │                           │   remote: outbound (route, smtp, dns),
//!                                   │                           │           online, pop3 login, wrapper, tls
//!                                   └──────── notices ◄─────────┘   (returned by deliver, spooled by queue)
//! ```
//!
//! **Imports point down the road, never back up.** Delivery does not know
//! the queue, acceptance or the SMTP server; bounce does not know delivery;
//! the spool does not know the queue. Precisely: each module below imports
//! only modules listed after it. The list is the road with two
//! adjustments: the spool, which every later stage reads and writes, sits
//! with the foundations at the end; and `accept` sits below `queue`,
//! because the road's one loop (a notice is a new message) is closed by the
//! queue, which spools the notices delivery returns through `accept`.
//!
//! * [`mode`]: runs an invocation (startup, then one file per mode); the only place that prints and exits.
//! * [`cli`]: the sendmail-compatible command line (both eras) → one typed invocation.
//! * [`daemon`]: `-bd`/`-q<ival>`: listeners, interval queue runs, pid file, orderly stop.
//! * [`inbound::fetch`]: fetching mail from the provider (POP3 sessions, UIDL, multidrop; ODMR).
//! * [`inbound::smtp`]: the SMTP server: a sans-IO session and a thin tokio driver; content streamed to the spool through `accept`.
//! * [`inbound::content`]: message content from the network streamed into the spool.
//! * [`queue`]: queue runs and their scope: lock in chunks, deliver, spool the notices delivery returns, deliver those.
//! * [`accept`]: any input → one durably spooled message; the only writer of new spool entries.
//! * [`deliver`]: recipients' outcomes: the run, one message's step, local methods, the remote step and transports.
//! * [`alias`]: alias files and the expansion of recipients.
//! * [`outbound::route`]: route filters, `last_route` claims, per-route rewriting.
//! * [`online`]: which connection is up (`-qo`, `online_query`, 0.2 `online_detect`,
//!   link detection by netlink or NetworkManager).
//! * [`bounce`]: failure notices and delay warnings rendered from templates, the warning schedule.
//! * [`outbound::smtp`]: the SMTP client (sessions for a batch, STARTTLS, AUTH, pipelining).
//! * [`pop3`]: the POP3 client (SMTP-after-POP login; the fetch will build on it).
//! * [`oauth2`]: OAuth2 bearer tokens: refreshed from the token file; the one-time device or loopback authorization.
//! * [`wrapper`]: connection `wrapper` commands on a socket pair.
//! * [`exec`]: the one place that starts child processes (no shell, identity, deadline, bounded output).
//! * [`outbound::dns`]: MX/A/AAAA lookups for direct delivery.
//! * [`tls`]: rustls server and client configurations.
//! * [`spool`]: the masqmail 1.0 on-disk format, durable commits, locks, sweep, listing.
//! * [`fs`]: durable writes and test-only crash points.
//! * [`message`]: the in-memory message (envelope + raw headers), reading message text, ids, dates.
//! * [`log`]: masqmail.log / debug.log / syslog / stderr in masqmail's line format.
//! * [`config`]: masqmail.conf, route and get files (both eras), `file:line` errors.
//! * [`address`]: addresses, RFC 821 paths, RFC 822 lists, globs, locality.
//! * [`privs`]: who is privileged, permanent drops, temporary identities.
//! * [`vars`]: `$VAR` expansion for command words and notice templates.
//! * [`tasks`]: counting running tasks for an orderly stop.
//!
//! Two rooms group the doors of the road: [`inbound`] holds what takes
//! mail in over the network (the SMTP server; the fetch will join it),
//! [`outbound`] what remote delivery uses to reach other hosts (routes,
//! the SMTP client, DNS). Nothing outbound imports anything inbound.

pub mod accept;
pub mod address;
pub mod alias;
pub mod bounce;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod deliver;
pub mod exec;
pub mod fs;
pub mod inbound;
pub mod log;
pub mod message;
pub mod mode;
pub mod oauth2;
pub mod online;
pub mod outbound;
pub mod pop3;

pub mod privs;
pub mod queue;
pub mod spool;
pub mod tasks;
pub mod tls;
pub mod vars;
pub mod wrapper;
