//! Scheduler overhead per frame, excluding stage work.
//!
//! - `scheduler_offer_next_finished`: the decisions alone: a frame offered
//!   to its mailbox, picked earliest-deadline-first with admission, and its
//!   result judged, with both sensors queued.
//! - `runtime_submit_to_dispatch`: the same through the running runtime:
//!   `Runtime::submit` until the frame sits in an idle lane's slot (the
//!   lane thread is parked, as between sensor frames). The lane's wake-up
//!   is the kernel's and is reported by `lookout bench scheduler`.

use criterion::{Criterion, criterion_group, criterion_main};
use lookout::clock::{Clock, MonotonicClock};
use lookout::ingest::InputKind;
use lookout::lidar::{LidarConfig, LidarStage};
use lookout::pipeline::PipelineWork;
use lookout::sched::runtime::{Event, Job, Runtime};
use lookout::sched::{Scheduler, SchedulerConfig, Sensor};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

fn decisions(c: &mut Criterion) {
    let config = SchedulerConfig::default();
    let sensors = lookout::sched::SensorSet::default_rig(&config, &Default::default());
    let mut scheduler: Scheduler<u64> = Scheduler::new(&config, &sensors);
    let mut now = 0i64;
    let mut ignore = |_, _| {};
    c.bench_function("scheduler_offer_next_finished", |b| {
        b.iter(|| {
            now += 1_000_000;
            scheduler.offer(Sensor::LIDAR, now - 50_000_000, now, 1, &mut ignore);
            scheduler.offer(Sensor::CAMERA, now - 10_000_000, now, 2, &mut ignore);
            while let Some(frame) = scheduler.next(now, &mut ignore) {
                black_box(scheduler.finished(&frame.timing, 5_000_000, now + 5_000_000, true));
            }
        })
    });
}

fn submit_to_dispatch(c: &mut Criterion) {
    let clock = Arc::new(MonotonicClock::new());
    let rig = Arc::new(lookout::rig::Rig::from_calibration(None));
    let lane = PipelineWork::new(rig, LidarStage::new(LidarConfig::default()).unwrap(), None);
    let mut runtime = Runtime::start(
        &SchedulerConfig::default(),
        lookout::sched::SensorSet::default_rig(&SchedulerConfig::default(), &Default::default()),
        clock.clone(),
        vec![lane],
        false,
    );
    c.bench_function("runtime_submit_to_dispatch", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let job = Job::single(InputKind::PointCloud2, runtime.buffer(), 0);
                let started = clock.now_ns();
                runtime.submit(Sensor::LIDAR, started, job);
                total += Duration::from_nanos((clock.now_ns() - started) as u64);
                // Untimed: let the lane finish so it is idle for the next one.
                while let Ok(event) = runtime.events().recv() {
                    if let Event::Frame { job, .. } = event {
                        runtime.recycle(job.bytes);
                        break;
                    }
                }
            }
            total
        })
    });
    runtime.finish();
}

criterion_group!(benches, decisions, submit_to_dispatch);
criterion_main!(benches);
