//! Scheduler overhead per frame, excluding stage work: a frame offered to
//! its mailbox, picked earliest-deadline-first with admission, and its
//! result judged, with both sensors queued.

use criterion::{Criterion, criterion_group, criterion_main};
use lookout::sched::{Scheduler, SchedulerConfig, Sensor};
use std::hint::black_box;

fn decisions(c: &mut Criterion) {
    let config = SchedulerConfig::default();
    let mut scheduler: Scheduler<u64> = Scheduler::new(&config);
    let mut now = 0i64;
    let mut ignore = |_, _| {};
    c.bench_function("scheduler_offer_next_finished", |b| {
        b.iter(|| {
            now += 1_000_000;
            scheduler.offer(Sensor::Lidar, now - 50_000_000, now, 1, &mut ignore);
            scheduler.offer(Sensor::Camera, now - 10_000_000, now, 2, &mut ignore);
            while let Some(frame) = scheduler.next(now, &mut ignore) {
                black_box(scheduler.finished(&frame.timing, 5_000_000, now + 5_000_000, true));
            }
        })
    });
}

criterion_group!(benches, decisions);
criterion_main!(benches);
