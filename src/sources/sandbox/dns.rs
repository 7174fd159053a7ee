//! A DNS server for the population's domains (UDP on 127.0.0.1), so the MX step
//! runs its real resolver offline: companies' domains have MX records, except the
//! few whose mail goes to their address record (no MX) and the few that publish a
//! null MX (RFC 7505: no mail at all); webmail domains have MX records; anything
//! else does not exist (NXDOMAIN). Negative answers carry an SOA, as a real zone's do.

use std::net::Ipv4Addr;
use std::sync::Arc;

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, MX, SOA};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::State;
use super::population::MailSetup;

const TTL: u32 = 300;

/// Answers queries on `socket` until `stop`.
pub(super) async fn serve(socket: UdpSocket, state: Arc<State>, stop: CancellationToken) {
    let mut buf = [0u8; 1500];
    loop {
        let (len, from) = tokio::select! {
            _ = stop.cancelled() => return,
            got = socket.recv_from(&mut buf) => match got {
                Ok(got) => got,
                Err(_) => continue,
            },
        };
        state.tally("dns");
        // Garbage gets no answer, as from a real server.
        let Ok(query) = Message::from_vec(&buf[..len]) else { continue };
        let Some(bytes) = answer(&state, &query).and_then(|m| m.to_vec().ok()) else { continue };
        let _ = socket.send_to(&bytes, from).await;
    }
}

/// What a domain has in the sandbox's zone: (MX exchange if any, address?).
enum Zone {
    Missing,
    Present { mx: Option<Name>, address: bool },
}

fn zone_of(state: &State, domain: &str) -> Zone {
    let exchange = |d: &str| Name::from_ascii(format!("mx1.{d}.")).ok();
    if crate::enrich::local::is_webmail(domain) {
        return Zone::Present { mx: exchange(domain), address: true };
    }
    match state.population.company_at(domain).map(|(_, c)| c.mail) {
        None => Zone::Missing,
        Some(MailSetup::Mx) => Zone::Present { mx: exchange(domain), address: true },
        Some(MailSetup::AddressOnly) => Zone::Present { mx: None, address: true },
        Some(MailSetup::NullMx) => Zone::Present { mx: Some(Name::root()), address: true },
    }
}

fn answer(state: &State, query: &Message) -> Option<Message> {
    let question = query.queries.first()?.clone();
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    reply.add_query(question.clone());
    let name = question.name.clone();
    let domain = name.to_ascii().trim_end_matches('.').to_ascii_lowercase();
    let records: Vec<RData> = match (zone_of(state, &domain), question.query_type) {
        (Zone::Missing, _) => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            Vec::new()
        }
        // A null MX has preference 0 (RFC 7505), a real exchange 10.
        (Zone::Present { mx: Some(exchange), .. }, RecordType::MX) => {
            let preference = if exchange.is_root() { 0 } else { 10 };
            vec![RData::MX(MX::new(preference, exchange))]
        }
        (Zone::Present { address: true, .. }, RecordType::A) => {
            vec![RData::A(A(Ipv4Addr::new(192, 0, 2, (domain.len() % 250) as u8 + 1)))]
        }
        _ => Vec::new(),
    };
    if records.is_empty() {
        // The zone that says so: the domain's own, or for a missing one its parent's.
        let missing = reply.metadata.response_code == ResponseCode::NXDomain;
        let zone = if missing { domain.rsplit('.').next().unwrap_or_default() } else { &domain };
        reply.authorities.push(soa(zone)?);
    }
    for data in records {
        reply.add_answer(Record::from_rdata(name.clone(), TTL, data));
    }
    Some(reply)
}

/// The zone's SOA, whose minimum is how long a negative answer may be cached.
fn soa(domain: &str) -> Option<Record> {
    let zone = Name::from_ascii(format!("{domain}.")).ok()?;
    let primary = Name::from_ascii(format!("ns1.{domain}.")).ok()?;
    let admin = Name::from_ascii(format!("hostmaster.{domain}.")).ok()?;
    let data = SOA::new(primary, admin, 1, 3600, 600, 86_400, TTL);
    Some(Record::from_rdata(zone, TTL, RData::SOA(data)))
}
