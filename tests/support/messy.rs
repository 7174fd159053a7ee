//! A generated messy import file whose right answer is known: every person
//! appears under several spellings of their keys, plus near misses that must stay
//! apart and role addresses shared by different people.

use std::fmt::Write;

pub const HEADER: &str =
    "First Name,Last Name,Title,Company,Email,Person Linkedin Url,Profile Id,Website,Industry,City";

/// One person's canonical keys.
pub struct Person {
    pub slug: String,
    pub email: String,
    pub apollo: String,
    pub member: u64,
}

pub fn person(i: usize) -> Person {
    // Every fourth person has a non-ASCII slug, every third a gmail address.
    let slug = if i.is_multiple_of(4) { format!("jürgen-müller-{i}") } else { format!("john-doe-{i}") };
    let email = if i.is_multiple_of(3) {
        format!("john.doe.{i}@gmail.com")
    } else {
        format!("jdoe{i}@acme{}.com", i % 7)
    };
    Person { slug, email, apollo: format!("{:024x}", 0xabc000 + i), member: 900_000 + i as u64 }
}

fn encoded_slug(slug: &str) -> String {
    slug.replace('ü', "%C3%BC")
}

/// The spellings of one person's keys that must all match the canonical ones.
fn variants(p: &Person, i: usize) -> Vec<(String, String, String)> {
    let enc = encoded_slug(&p.slug);
    let upper = p.slug.to_uppercase();
    let gmail_variant = match p.email.split_once('@') {
        Some((local, "gmail.com")) => format!("{}+promo@googlemail.com", local.replace('.', "")),
        _ => format!("  {}  ", p.email.to_uppercase()),
    };
    let urls = [
        format!("http://linkedin.com/in/{enc}"),
        format!("https://uk.linkedin.com/in/{enc}/"),
        format!("https://m.linkedin.com/in/{upper}?trk=people"),
        format!("www.linkedin.com/in/{enc}/details/experience/"),
        format!("HTTPS://WWW.LINKEDIN.COM/in/{enc}/en#top"),
    ];
    vec![
        (urls[i % urls.len()].clone(), String::new(), String::new()),
        (String::new(), gmail_variant, String::new()),
        (String::new(), String::new(), format!("apollo:{}", p.apollo)),
        (String::new(), String::new(), format!("urn:li:member:{}", p.member)),
    ]
}

fn row(out: &mut String, i: usize, url: &str, email: &str, id: &str) {
    let _ = writeln!(
        out,
        "Person{i},Tester,PPC Manager,Acme {},{email},{url},{id},https://acme{}.com,Retail,Chicago",
        i % 7,
        i % 7
    );
}

/// A file of `people` people: each once with every canonical key, then once per
/// variant; plus near misses (a different person each) and two people who share
/// a role address. Returns the file and the number of distinct people in it.
pub fn file(people: usize) -> (String, usize) {
    let mut out = String::from(HEADER);
    out.push('\n');
    for i in 0..people {
        let p = person(i);
        // The member ID arrives with the Apollo ID, so both name the same lead.
        let ids = format!("linkedin:{} apollo:{}", p.member, p.apollo);
        row(
            &mut out,
            i,
            &format!("https://www.linkedin.com/in/{}", encoded_slug(&p.slug)),
            &p.email,
            &format!("apollo:{}", p.apollo),
        );
        row(&mut out, i, "", "", &ids);
    }
    for i in 0..people {
        let p = person(i);
        for (url, email, id) in variants(&p, i) {
            row(&mut out, i, &url, &email, &id);
        }
    }
    // Near misses: each looks like someone above but is another person.
    let near = [
        ("https://www.linkedin.com/in/john-doe-1-1", "", ""),
        ("https://www.linkedin.com/in/john-doe-", "", ""),
        ("", "jdoe1@acme2.com", ""),
        ("", "j.doe1@acme1.com", ""),
        ("", "", "zoominfo:abc000"),
    ];
    for (k, (url, email, id)) in near.iter().enumerate() {
        row(&mut out, 10_000 + k, url, email, id);
    }
    // Two people who share a role mailbox: it is not a key, so they stay apart.
    row(&mut out, 20_000, "https://www.linkedin.com/in/role-a", "info@acme0.com", "");
    row(&mut out, 20_001, "https://www.linkedin.com/in/role-b", "info@acme0.com", "");
    (out, people + near.len() + 2)
}
