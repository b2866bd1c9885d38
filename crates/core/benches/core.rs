//! Micro-benchmarks of the pure parts on every delivery's path: signing a webhook, choosing
//! the endpoints a message goes to, and the retry policy. `cargo bench -p hookd-core`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hookd_core::matching::{matches, Subscription};
use hookd_core::retry::RetrySchedule;
use hookd_core::signing::{signature_header, verify, EndpointSecret};
use rand::rngs::StdRng;
use rand::SeedableRng;

const MSG_ID: &str = "msg_2pGk0cVq5rA1bX9yZ3dE7fH4jK";
const TIMESTAMP: i64 = 1_700_000_000;

fn signing(c: &mut Criterion) {
    let secret = EndpointSecret::generate();
    let mut group = c.benchmark_group("signing");
    for size in [256usize, 4096, 65_536] {
        let body = vec![b'x'; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("sign {size} B"), |b| {
            b.iter(|| secret.sign(black_box(MSG_ID), TIMESTAMP, black_box(&body)))
        });
    }
    // Two active secrets, as during a rotation: the header carries both signatures.
    let secrets = [EndpointSecret::generate(), EndpointSecret::generate()];
    let body = vec![b'x'; 1024];
    group.throughput(Throughput::Elements(1));
    group.bench_function("header, 2 secrets, 1 KiB", |b| {
        b.iter(|| signature_header(black_box(&secrets), MSG_ID, TIMESTAMP, &body))
    });
    let header = signature_header(&secrets[..1], MSG_ID, TIMESTAMP, &body);
    let ts = TIMESTAMP.to_string();
    group.bench_function("verify 1 KiB", |b| {
        b.iter(|| {
            let ok = verify(&secrets[..1], Some(MSG_ID), Some(&ts), Some(black_box(&header)), &body, TIMESTAMP, 300);
            assert!(ok.is_ok());
        })
    });
    group.finish();
}

fn strings(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}.{i}")).collect()
}

/// An application with 100 endpoints: some take everything, some filter by event type,
/// some by channel, some are disabled. A message is matched against all of them.
fn matching(c: &mut Criterion) {
    let types: Vec<Vec<String>> = (0..100).map(|i| strings("invoice", i % 8)).collect();
    let channels: Vec<Vec<String>> = (0..100).map(|i| strings("tenant", i % 4)).collect();
    let subs: Vec<Subscription<'_>> = (0..100)
        .map(|i| Subscription {
            disabled: i % 10 == 9,
            event_types: (i % 3 == 0).then(|| types[i].as_slice()),
            channels: (i % 5 == 0).then(|| channels[i].as_slice()),
        })
        .collect();
    let message_channels = strings("tenant", 2);
    let mut group = c.benchmark_group("matching");
    group.throughput(Throughput::Elements(subs.len() as u64));
    group.bench_function("1 message x 100 endpoints", |b| {
        b.iter(|| subs.iter().filter(|s| matches(s, black_box("invoice.3"), Some(&message_channels))).count())
    });
    group.finish();
}

fn retry(c: &mut Criterion) {
    let schedule = RetrySchedule::default();
    let mut rng = StdRng::seed_from_u64(7);
    let mut group = c.benchmark_group("retry");
    group.bench_function("next_delay, whole schedule", |b| {
        b.iter(|| {
            (1..=schedule.max_attempts()).filter_map(|n| schedule.next_delay(black_box(n), None, &mut rng)).count()
        })
    });
    let asked = Some(Duration::from_secs(600));
    group.bench_function("next_delay with Retry-After", |b| {
        b.iter(|| schedule.next_delay(black_box(2), black_box(asked), &mut rng))
    });
    group.finish();
}

criterion_group!(benches, signing, matching, retry);
criterion_main!(benches);
