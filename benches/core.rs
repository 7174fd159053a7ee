//! Criterion benchmarks of the hot paths: normalise one record, look a key up in
//! the de-duplication index, write a 500-record batch to the store.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use leadsprint::dedup::KeyIndex;
use leadsprint::lead::{RawLead, Source, identity, normalize};
use leadsprint::pipeline::{Item, Writer};
use leadsprint::store::Store;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn raw(i: u64) -> RawLead {
    RawLead {
        first_name: Some("Dana".into()),
        last_name: Some("Wills".into()),
        job_title: Some("Performance Marketing Manager".into()),
        emails: vec![format!("dana.wills{i}@acme{}.com", i % 5000)],
        linkedin_url: Some(format!("https://www.linkedin.com/in/dana-wills-{i}")),
        profile_ids: vec![format!("apollo:{i:024x}")],
        company_name: Some("Acme Corp".into()),
        company_domain: Some("https://www.acme.com".into()),
        company_industry: Some("Retail".into()),
        city: Some("New York".into()),
        region: Some("NY".into()),
        country: Some("United States".into()),
        source: Source {
            vendor: "apollo".into(),
            workflow: "bench".into(),
            record_id: Some(i.to_string()),
            fetched_at: 0,
        },
        ..RawLead::default()
    }
}

fn bench_normalize(c: &mut Criterion) {
    let r = raw(42);
    c.bench_function("normalize one record", |b| b.iter(|| normalize(black_box(&r), 0)));
}

fn bench_dedup_lookup(c: &mut Criterion) {
    c.bench_function("dedup index lookup (3M keys)", |b| {
        let n = 3_000_000u64;
        let pairs = (0..n).map(|i| (identity::hash_encoded(&format!("e:user{i}@acme.com")), i / 3));
        let index = KeyIndex::from_pairs(pairs, n as usize).unwrap();
        // Half the probes hit, half miss.
        let probes: Vec<u64> = (0..1024u64)
            .map(|i| identity::hash_encoded(&format!("e:user{}@acme.com", i * 2929 % (2 * n))))
            .collect();
        let mut k = 0usize;
        b.iter(|| {
            k = (k + 1) & 1023;
            black_box(index.candidates(probes[k]).next())
        })
    });
}

fn bench_store_batch(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::new(Store::open(dir.path()).unwrap()).unwrap();
    let mut next = 0u64;
    c.bench_function("store 500-record batch (new leads, durable)", |b| {
        b.iter_batched(
            || {
                let items: Vec<Item> = (next..next + 500)
                    .map(|i| Item::Lead(Box::new(normalize(&raw(i), 0).unwrap())))
                    .collect();
                next += 500;
                items
            },
            |items| writer.write(items).unwrap(),
            BatchSize::PerIteration,
        )
    });
}

criterion_group!(benches, bench_normalize, bench_dedup_lookup, bench_store_batch);
criterion_main!(benches, extra);

fn bench_commit_fixed(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::new(Store::open(dir.path()).unwrap()).unwrap();
    let mut next = 10_000_000u64;
    c.bench_function("store 1-record batch (commit cost)", |b| {
        b.iter_batched(
            || {
                next += 1;
                vec![Item::Lead(Box::new(normalize(&raw(next), 0).unwrap()))]
            },
            |items| writer.write(items).unwrap(),
            BatchSize::PerIteration,
        )
    });
}
criterion_group!(extra, bench_commit_fixed);
