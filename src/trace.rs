//! Logging and tracing setup for the `lookout` command: log lines on
//! stderr filtered by `RUST_LOG` (default `info`), and with `--trace-out` a
//! Chrome/Perfetto trace file of the whole run.
//!
//! The trace holds what the runtime records at debug level under the
//! `lookout::` targets: one `stage` slice per stage run on the track of the
//! lane thread that ran it, carrying the sensor's name, the frame index,
//! stamp and deadline, and one instant event per frame that ended without
//! a result (`frame not published`, with its outcome: superseded, stale,
//! infeasible, late, failed). `LOOKOUT_TRACE` overrides what goes into the
//! trace (an `EnvFilter` directive list, default `lookout=debug`).
//!
//! Owns only the subscriber; it never reads a clock for the pipeline (the
//! trace's timestamps are tracing-chrome's own, relative to its start).
//! Never used by the library's stages: they emit spans and events, and
//! whether anything is listening is decided here, once, at start.

use std::path::Path;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the trace file open; dropping it flushes and closes the file.
pub struct TraceGuard {
    _chrome: Option<tracing_chrome::FlushGuard>,
}

/// Installs the global subscriber: log lines on stderr, and the Chrome
/// trace at `trace_out` when given. Fails when the trace file cannot be
/// created (before anything runs), or when a subscriber is already set.
pub fn init(trace_out: Option<&Path>) -> Result<TraceGuard, std::io::Error> {
    let log_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(log_filter);
    let (chrome, guard) = match trace_out {
        Some(path) => {
            // Created here so that a bad path is an error, not a panic in
            // tracing-chrome's writer.
            let file = std::fs::File::create(path)?;
            let filter = std::env::var("LOOKOUT_TRACE")
                .ok()
                .and_then(|directives| EnvFilter::try_new(directives).ok())
                .unwrap_or_else(|| EnvFilter::new("lookout=debug"));
            let (layer, guard) = tracing_chrome::ChromeLayerBuilder::new()
                .writer(std::io::BufWriter::new(file))
                .include_args(true)
                .include_locations(false)
                .build();
            (Some(layer.with_filter(filter)), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(log)
        .with(chrome)
        .try_init()
        .map_err(std::io::Error::other)?;
    Ok(TraceGuard { _chrome: guard })
}
