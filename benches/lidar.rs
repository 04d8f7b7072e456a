//! The lidar obstacle stage per scan at 30k, 60k, 120k and 240k points
//! (64 beams, azimuth resolution scaled), on synthetic scans.
//! `lookout bench lidar` prints the same sizes with p50/p90/p99.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lookout::frames::LidarScan;
use lookout::lidar::{LidarConfig, LidarStage};
use lookout::msg::PointCloud2;
use lookout::synth::{self, SynthOptions};

fn scans(target: usize) -> Vec<LidarScan> {
    let mut options = SynthOptions::default();
    options.lidar.azimuth_steps = (target as f64 / 58.5).round() as usize;
    synth::lidar_scans(&options, 4)
        .expect("synthetic scans")
        .iter()
        .map(|cloud| {
            let mut scan = LidarScan::new();
            scan.fill_from(&PointCloud2::decode(cloud).expect("decode"))
                .expect("fill");
            scan
        })
        .collect()
}

fn lidar_stage(c: &mut Criterion) {
    let mut group = c.benchmark_group("lidar_stage");
    for target in [30_000usize, 60_000, 120_000, 240_000] {
        let scans = scans(target);
        let mut stage = LidarStage::new(LidarConfig::default()).expect("default config");
        let mut out = Vec::new();
        group.throughput(Throughput::Elements(scans[0].len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(target), &scans, |b, scans| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % scans.len();
                stage.process(&scans[k], &mut out)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lidar_stage);
criterion_main!(benches);
