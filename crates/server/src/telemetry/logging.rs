//! Logging: `tracing` to standard error, filtered by `RUST_LOG` (default `info,sqlx=warn`), as text or JSON.
//!
//! `RUST_LOG` is a list of `target=level` directives and a bare default level (tracing-subscriber's
//! [`Targets`]): each log statement is decided once, when it is first reached, and spans cost the filter
//! nothing afterwards (an `EnvFilter` would look every span up when it is entered and left, on every
//! request).
//!
//! Text logs write fields as `name=value`, the way tracing-subscriber's default does, except that a string
//! made of plain characters is written as it is rather than quoted and escaped (`path=/api/v1/evaluate`);
//! others are quoted (`reason="not found"`). Every request's span is formatted when the request arrives,
//! and this keeps that to a few copies.

use std::fmt::{self, Write as _};
use std::io::IsTerminal as _;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The filter when `RUST_LOG` does not set one.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the process's logger. Colours only on a terminal: a log file or collector gets plain text.
pub fn init(format: LogFormat) {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let colour = std::io::stderr().is_terminal();
    let subscriber = tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(std::io::stderr);
    let subscriber = subscriber.with_ansi(colour);
    match format {
        LogFormat::Json => subscriber.json().finish().with(filter).init(),
        LogFormat::Text => subscriber.fmt_fields(PlainFields).finish().with(filter).init(),
    }
}

/// Panics are logged once, as an error event with their message and place (no backtrace, nothing of the
/// request being served), instead of the standard hook's text on standard error.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message =
            payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        let location = info.location().map(ToString::to_string).unwrap_or_default();
        tracing::error!(message = message.unwrap_or("(not text)"), location, "panicked");
    }));
}

/// The filter `RUST_LOG` asks for, or [`DEFAULT_FILTER`] when it is unset, empty or unreadable.
pub fn filter(rust_log: Option<&str>) -> Targets {
    rust_log
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| DEFAULT_FILTER.parse().expect("the default filter parses"))
}

/// The text format's fields: see the [module](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = FieldVisitor {
            writer: Gathered { writer: &mut writer, buffer: [0; GATHERED], len: 0 },
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result.and_then(|()| visitor.writer.flush())
    }
}

struct FieldVisitor<'a, 'w> {
    writer: Gathered<'a, 'w>,
    first: bool,
    result: fmt::Result,
}

/// How many bytes [`Gathered`] holds.
const GATHERED: usize = 192;

/// Gathers the many small pieces fields are written in and hands them on in one: a span's fields go into
/// an empty `String`, which would otherwise grow several times.
struct Gathered<'a, 'w> {
    writer: &'a mut Writer<'w>,
    buffer: [u8; GATHERED],
    len: usize,
}

impl Gathered<'_, '_> {
    fn flush(&mut self) -> fmt::Result {
        let gathered = std::mem::take(&mut self.len);
        // Whole `str`s were copied in, so this holds.
        self.writer.write_str(std::str::from_utf8(&self.buffer[..gathered]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Write for Gathered<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > GATHERED {
            self.flush()?;
            if s.len() > GATHERED {
                return self.writer.write_str(s);
            }
        }
        self.buffer[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

impl FieldVisitor<'_, '_> {
    /// Starts a field: a space before all but the first, then `name=` unless it is the message. `None` for a
    /// field not to write.
    fn start(&mut self, field: &Field) -> Option<bool> {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return None;
        }
        if !std::mem::take(&mut self.first) {
            self.result = self.writer.write_char(' ');
        }
        if name == "message" {
            return Some(true);
        }
        self.result = self
            .result
            .and_then(|()| self.writer.write_str(shown_name(field)))
            .and_then(|()| self.writer.write_char('='));
        Some(false)
    }
}

impl Visit for FieldVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let Some(message) = self.start(field) else { return };
        self.result = self.result.and_then(|()| {
            if message || is_plain(value) { self.writer.write_str(value) } else { write!(self.writer, "{value:?}") }
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.start(field).is_some() {
            self.result = self.result.and_then(|()| write!(self.writer, "{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.start(field).is_none() {
            return;
        }
        self.result = self.result.and_then(|()| write!(self.writer, "{value}"));
        let mut source = value.source();
        if source.is_some() {
            let name = shown_name(field);
            self.result = self.result.and_then(|()| write!(self.writer, " {name}.sources=["));
            let mut first = true;
            while let Some(error) = source {
                let separator = if std::mem::take(&mut first) { "" } else { ", " };
                self.result = self.result.and_then(|()| write!(self.writer, "{separator}{error}"));
                source = error.source();
            }
            self.result = self.result.and_then(|()| self.writer.write_char(']'));
        }
    }
}

/// A field's name as logged: `r#type` is `type`.
fn shown_name(field: &Field) -> &'static str {
    let name = field.name();
    name.strip_prefix("r#").unwrap_or(name)
}

/// Whether `value` reads unambiguously without quotes: not empty, and nothing but visible ASCII other than
/// `"`, `=` and `\`.
fn is_plain(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'=' | b'\\'))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    /// A log writer that keeps what is written, for tests of what is logged.
    #[derive(Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        /// What has been written.
        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    #[test]
    fn rust_log_picks_levels_by_target_and_falls_back_to_the_default() {
        use tracing::Level;
        let default = filter(None);
        assert!(default.would_enable("pennon_server::api", &Level::INFO));
        assert!(!default.would_enable("pennon_server::api", &Level::DEBUG));
        assert!(default.would_enable("sqlx::query", &Level::WARN));
        assert!(!default.would_enable("sqlx::query", &Level::INFO));
        let debug = filter(Some("debug,sqlx=warn,hyper=off"));
        assert!(debug.would_enable("pennon_server::api", &Level::DEBUG));
        assert!(!debug.would_enable("sqlx::query", &Level::INFO));
        assert!(!debug.would_enable("hyper::proto", &Level::ERROR));
        for unreadable in [Some(""), Some("  "), Some("pennon=loud")] {
            let fallback = filter(unreadable);
            assert!(fallback.would_enable("pennon_server", &Level::INFO), "{unreadable:?}");
            assert!(!fallback.would_enable("sqlx::query", &Level::INFO), "{unreadable:?}");
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    /// What `log` writes, without time, target or level padding.
    fn logged(log: impl FnOnce()) -> String {
        let out = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(out.clone())
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .fmt_fields(PlainFields)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.trim().to_owned()
    }

    #[test]
    fn long_fields_are_written_whole() {
        let long = "p".repeat(300);
        let medium = "é".repeat(50);
        let text = logged(|| {
            let span = tracing::info_span!("request", a = medium.as_str(), b = medium.as_str(), c = long.as_str());
            let _entered = span.enter();
            tracing::info!(d = long.as_str(), "done");
        });
        assert_eq!(text, format!("INFO request{{a=\"{medium}\" b=\"{medium}\" c={long}}}: done d={long}"));
    }

    #[test]
    fn fields_read_as_name_equals_value() {
        let text = logged(|| {
            let span = tracing::info_span!("request", path = "/api/v1/evaluate", request_id = "5c1e9a07-1");
            let _entered = span.enter();
            let error = Outer(Inner);
            tracing::info!(
                count = 3,
                shown = %"a b",
                reason = "not found",
                empty = "",
                quote = "say \"hi\"",
                r#type = "x",
                error = &error as &(dyn std::error::Error + 'static),
                "the message"
            );
        });
        assert_eq!(
            text,
            "INFO request{path=/api/v1/evaluate request_id=5c1e9a07-1}: the message count=3 shown=a b \
             reason=\"not found\" empty=\"\" quote=\"say \\\"hi\\\"\" type=x error=outer error.sources=[inner]"
        );
    }
}
