//! Logging setup: JSON or text lines through `tracing`, filtered by RUST_LOG. JSON lines are
//! flat: the fields of the spans an event happened in (a reconcile's `namespace`, `name` and
//! `reconcile_id`) are top-level keys next to the event's own fields, so log pipelines can
//! filter on them without knowing about spans.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log pipelines).
    Json,
    /// Human-readable lines.
    Text,
}

/// Installs the global subscriber; `default` applies when RUST_LOG is unset.
pub fn init(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    match format {
        LogFormat::Json => {
            let _ = json_subscriber(filter, std::io::stderr).try_init();
        }
        LogFormat::Text => {
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).compact().try_init();
        }
    }
}

/// The JSON subscriber writing to `writer` (one flat object per line).
pub fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .fmt_fields(JsonFields::new())
        .event_format(FlatJson)
        .finish()
}

/// Formats an event as one JSON object: `timestamp`, `level`, `target`, the fields of its
/// spans from the outermost in, then its own fields (`message` among them).
#[derive(Clone, Copy, Debug, Default)]
pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut line = Map::new();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        line.insert("timestamp".into(), Value::String(now));
        line.insert("level".into(), Value::String(event.metadata().level().as_str().into()));
        line.insert("target".into(), Value::String(event.metadata().target().into()));
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                let Some(fields) = ext.get::<FormattedFields<N>>() else { continue };
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields.as_str()) {
                    line.extend(map);
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), serde_json::json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Buffer {
            self.clone()
        }
    }

    fn lines(buf: &Buffer) -> Vec<Value> {
        let text = String::from_utf8(buf.0.lock().unwrap_or_else(|p| p.into_inner()).clone()).expect("utf-8");
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    #[test]
    fn span_fields_are_top_level_keys_of_every_line_inside_the_span() {
        let buf = Buffer::default();
        let subscriber = json_subscriber(EnvFilter::new("info"), buf.clone());
        tracing::subscriber::with_default(subscriber, || {
            let outer =
                tracing::info_span!("reconciling object", "object.ref" = "SipTrunk.v1alpha1.siptrunk.dev/a.ns1");
            let _o = outer.enter();
            let span = tracing::info_span!("reconcile", namespace = "ns1", name = "main-line", reconcile_id = "00ff");
            let _g = span.enter();
            tracing::info!(action = "created", attempts = 2u64, ok = true, "provider write");
            tracing::debug!("filtered out");
            drop(_g);
            tracing::warn!(error = %"boom", "outside the reconcile");
        });
        let got = lines(&buf);
        assert_eq!(got.len(), 2, "{got:?}");
        let l = &got[0];
        assert_eq!(l["namespace"], "ns1");
        assert_eq!(l["name"], "main-line");
        assert_eq!(l["reconcile_id"], "00ff");
        assert_eq!(l["object.ref"], "SipTrunk.v1alpha1.siptrunk.dev/a.ns1");
        assert_eq!((l["message"].as_str(), l["action"].as_str()), (Some("provider write"), Some("created")));
        assert_eq!((l["attempts"].as_u64(), l["ok"].as_bool()), (Some(2), Some(true)));
        assert_eq!(l["level"], "INFO");
        assert!(l["target"].as_str().is_some_and(|t| t.starts_with("siptrunk_operator")));
        assert!(l["timestamp"].as_str().is_some_and(|t| t.ends_with('Z') && t.contains('T')));
        let outside = &got[1];
        assert_eq!(outside["message"], "outside the reconcile");
        assert!(outside.get("namespace").is_none() && outside.get("reconcile_id").is_none(), "{outside}");
        assert_eq!(outside["object.ref"], "SipTrunk.v1alpha1.siptrunk.dev/a.ns1");
    }
}
