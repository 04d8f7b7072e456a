//! Any bytes as an MCAP file: opened as a bag, its topics listed and every
//! message read (indexed or, when the summary is damaged, in file order) and
//! ingested. The reader must report damage as an error after the readable
//! messages, never panic or loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::bag::Bag;
use lookout::ingest::{Ingest, InputKind};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::OnceLock;

/// One file per fuzzing process (the bag reader reads files).
fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("lookout-fuzz-{}.mcap", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    if std::fs::write(path, data).is_err() {
        return;
    }
    let Ok(bag) = Bag::open(path) else {
        return;
    };
    let _ = bag.topics();
    let mut ingest = Ingest::new();
    let _ = bag.read_messages(None, |message| {
        if let Some(kind) = InputKind::from_type_name(message.type_name) {
            let _ = ingest.ingest(kind, message.data);
        }
        ControlFlow::Continue(())
    });
});
