//! The tracing layer that writes events to the configured destinations.
//!
//! The destinations live behind a shared lock so that the one global
//! subscriber (which tracing lets us set only once) can move from "stderr
//! only" before the config is read to the configured files afterwards.
//! Each destination has its own level; one event becomes one `write(2)`
//! per destination, so concurrent processes appending to the same file
//! never interleave within a line.
//!
//! # Security
//! Only writes to descriptors opened by `open.rs` (or fds 1 and 2). Span
//! and event values are escaped by `format.rs`.

use std::fs::File;
use std::io::Write;
use std::sync::{Arc, PoisonError, RwLock};

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::format::{self, Text};
use super::syslog;

/// Where one destination writes.
#[derive(Debug)]
pub(crate) enum Dest {
    File(File),
    Stderr,
    Stdout,
    Syslog,
    /// Lines kept until the real destinations are known (see
    /// [`super::init_buffered`]).
    Memory(std::sync::Mutex<Vec<(Level, String)>>),
}

/// How the line looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Time, pid, level, text (syslog adds its own prefix instead).
    Full,
    /// The text alone: echoes meant for the user's terminal.
    Bare,
}

#[derive(Debug)]
pub(crate) struct Target {
    pub dest: Dest,
    pub style: Style,
    /// The most verbose level this destination takes.
    pub max: LevelFilter,
}

/// All destinations.
#[derive(Debug, Default)]
pub(crate) struct Sinks {
    pub targets: Vec<Target>,
}

impl Sinks {
    fn max(&self) -> LevelFilter {
        self.targets
            .iter()
            .map(|t| t.max)
            .max()
            .unwrap_or(LevelFilter::OFF)
    }
}

pub(crate) type Shared = Arc<RwLock<Sinks>>;

/// The layer; cheap to clone, all clones share the destinations.
#[derive(Clone)]
pub(crate) struct LogLayer {
    pub sinks: Shared,
}

/// Fields of a span, rendered once when recorded.
struct SpanText(Text);

/// Debug and trace events of other crates (TLS, DNS, async runtime) would
/// drown ours at high debug levels; they log at info and above only.
fn wanted(meta: &Metadata<'_>, max: LevelFilter) -> bool {
    let level = *meta.level();
    level <= max && (level <= Level::INFO || meta.target().starts_with("masqmail"))
}

impl<S> Layer<S> for LogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, _meta: &'static Metadata<'static>) -> Interest {
        // The destinations change at runtime: ask `enabled` every time.
        Interest::sometimes()
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        wanted(meta, self.read(Sinks::max))
    }

    // No `max_level_hint`: tracing caches the global maximum, and a cached
    // value computed while the destinations change (or while a scoped
    // test subscriber comes and goes) can hide events from another
    // subscriber. `enabled` decides every time instead.

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut text = Text::default();
        attrs.record(&mut text);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanText(text));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(SpanText(text)) = span.extensions_mut().get_mut::<SpanText>()
        {
            values.record(text);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut text = Text::default();
        event.record(&mut text);
        // Span fields (the session's peer, the message id...), outermost first.
        let mut extra = String::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanText(t)) = span.extensions().get::<SpanText>() {
                    extra.push_str(&t.fields);
                }
            }
        }
        let rendered = text.render(&extra);
        self.write(event.metadata().level(), &rendered);
    }
}

impl LogLayer {
    fn read<T>(&self, f: impl FnOnce(&Sinks) -> T) -> T {
        // A panic while holding the lock leaves the sinks intact: keep logging.
        f(&self.sinks.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Sends one rendered text to every destination that takes `level`.
    pub(crate) fn write(&self, level: &Level, text: &str) {
        self.read(|sinks| {
            let mut full = None;
            for t in sinks.targets.iter().filter(|t| *level <= t.max) {
                let line = match (t.style, &t.dest) {
                    (_, Dest::Syslog) => {
                        syslog::send(level, text);
                        continue;
                    }
                    (_, Dest::Memory(m)) => {
                        m.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((*level, text.to_string()));
                        continue;
                    }
                    (Style::Full, _) => full
                        .get_or_insert_with(|| {
                            format::line(&format::now(), std::process::id(), level, text)
                        })
                        .clone(),
                    (Style::Bare, _) => format!("{text}\n"),
                };
                // A failing log write has nowhere to be reported; the
                // process goes on (the mail matters more than its log).
                let _ = match &t.dest {
                    Dest::File(f) => (&*f).write_all(line.as_bytes()),
                    Dest::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
                    Dest::Stdout => {
                        let mut out = std::io::stdout().lock();
                        out.write_all(line.as_bytes()).and_then(|()| out.flush())
                    }
                    Dest::Syslog | Dest::Memory(_) => Ok(()),
                };
            }
        });
    }
}
