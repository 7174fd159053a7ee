//! The index's own parts: the commit payload and the request limits.

use super::*;

#[test]
fn payload_round_trips_and_rejects_other_versions() {
    assert_eq!(parse_payload(&payload(42)), Some(42));
    assert_eq!(parse_payload("leadsprint-search v0 seq=42"), None);
    assert_eq!(parse_payload("something else"), None);
}

#[test]
fn oversized_requests_are_refused() {
    let mut request = Request::new("ppc", 0);
    request.limit = MAX_LIMIT + 1;
    assert!(check_request(&request).is_err_and(|e| e.to_string().contains("page with offset")));
    request.limit = 10;
    request.offset = MAX_OFFSET + 1;
    assert!(check_request(&request).is_err());
}

#[test]
fn sort_names() {
    assert_eq!("Quality".parse::<Sort>(), Ok(Sort::Quality));
    assert_eq!("newest".parse::<Sort>(), Ok(Sort::Recent));
    assert!("size".parse::<Sort>().is_err());
}

#[test]
fn a_busy_writer_lock_is_waited_out_for_a_moment_then_reported() {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(dir.path()).unwrap();
    let held = index.indexer(1, 15_000_000).unwrap();
    let started = std::time::Instant::now();
    let refused = index.indexer(1, 15_000_000).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("lock"), "{refused}");
    assert!(started.elapsed() >= WRITER_LOCK_WAIT, "waited before giving up");

    // Released while the second writer waits: it gets the lock.
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(held);
    });
    assert!(index.indexer(1, 15_000_000).is_ok(), "the lock freed within the wait is taken");
    release.join().unwrap();
}
