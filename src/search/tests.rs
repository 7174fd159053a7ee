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
