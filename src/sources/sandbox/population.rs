//! The sandbox's people: a deterministic, seeded population of performance
//! marketers, and which of them each vendor knows. The same seed always gives the
//! same people (a hand-rolled splitmix64, because general-purpose RNGs do not
//! promise the same stream across versions), so a test or a demo replays exactly.

/// Performance-marketing job families and their titles.
const FAMILIES: [(&str, &[&str]); 3] = [
    (
        "performance",
        &[
            "Performance Marketing Manager",
            "Senior Performance Marketing Manager",
            "Growth Marketing Manager",
            "Digital Marketing Manager",
            "Head of Performance Marketing",
            "Director of Digital Marketing",
        ],
    ),
    (
        "paid",
        &[
            "Paid Media Manager",
            "PPC Manager",
            "Paid Search Manager",
            "Paid Social Manager",
            "Senior PPC Specialist",
            "Head of Paid Media",
        ],
    ),
    (
        "operations",
        &[
            "Marketing Operations Manager",
            "Senior Marketing Operations Manager",
            "Director of Marketing Operations",
        ],
    ),
];

/// Share of each family, in percent.
const FAMILY_SHARE: [u64; 3] = [40, 35, 25];

/// Metro areas: the five the default campaign queries, then others.
pub const METROS: [(&str, &str); 10] = [
    ("New York", "NY"),
    ("San Francisco", "CA"),
    ("Los Angeles", "CA"),
    ("Chicago", "IL"),
    ("Boston", "MA"),
    ("Austin", "TX"),
    ("Seattle", "WA"),
    ("Denver", "CO"),
    ("Atlanta", "GA"),
    ("Miami", "FL"),
];

const FIRST: [&str; 32] = [
    "Dana", "Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Priya",
    "Wei", "Sofia", "Mateo", "Aisha", "Lucas", "Emma", "Noah", "Olivia", "Liam", "Chloé", "Jürgen",
    "Siobhan", "Kenji", "Fatima", "Diego", "Hannah", "Omar", "Grace", "Ivan", "Mei", "Zoë",
];

const LAST: [&str; 32] = [
    "Wills", "Nguyen", "Garcia", "Smith", "Johnson", "Patel", "Kim", "Lopez", "Brown", "Davis", "Miller",
    "Wilson", "Moore", "Anderson", "Thomas", "Müller", "O'Brien", "Rossi", "Tanaka", "Haddad", "Cohen",
    "Okafor", "Silva", "Novak", "Larsen", "Dubois", "Kowalski", "Reyes", "Hughes", "Ali", "Fischer", "Chen",
];

const INDUSTRIES: [&str; 8] = [
    "Retail",
    "Software",
    "Financial Services",
    "Health Care",
    "Media",
    "E-commerce",
    "Consumer Goods",
    "Travel",
];

const COMPANY_WORDS: [&str; 16] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
    "Pied Piper",
    "Dunder",
    "Aperture",
    "Tyrell",
    "Wonka",
    "Gringotts",
];

const COMPANY_SUFFIXES: [&str; 6] = ["Corp", "Labs", "Group", "Media", "Digital", "Brands"];

/// A deterministic 64-bit generator (splitmix64).
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One person of the population, with every identifier each vendor uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub index: u32,
    pub first_name: String,
    pub last_name: String,
    pub family: &'static str,
    pub title: String,
    pub metro: usize,
    pub company: String,
    pub domain: String,
    pub industry: &'static str,
    pub employees: u32,
    pub email: String,
    pub slug: String,
    pub member_id: u64,
    pub apollo_id: String,
    pub zoominfo_id: u64,
    /// Index of the employer in [`Population::companies`].
    pub company_index: usize,
    /// Which vendors know this person (bit per [`Vendor`]).
    coverage: u8,
}

/// The sandbox vendors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Apollo = 0,
    ZoomInfo = 1,
    BrightData = 2,
    SalesNav = 3,
}

impl Person {
    pub fn known_to(&self, vendor: Vendor) -> bool {
        self.coverage & (1 << vendor as u8) != 0
    }

    pub fn city(&self) -> &'static str {
        METROS[self.metro].0
    }

    pub fn region(&self) -> &'static str {
        METROS[self.metro].1
    }

    pub fn linkedin_url(&self) -> String {
        format!("https://www.linkedin.com/in/{}", percent_encode(&self.slug))
    }

    /// The address at the employer's domain (the one a finder can discover,
    /// even for people whose vendors only know a personal address).
    pub fn work_email(&self) -> String {
        let local = self.email.split('@').next().unwrap_or_default();
        format!("{local}@{}", self.domain)
    }

    /// What the enrichment providers know of this person, drawn once per person.
    pub fn enrichment_traits(&self, seed: u64) -> EnrichmentTraits {
        let mut rng = SplitMix::new(seed ^ u64::from(self.index).wrapping_mul(0x4B17_0001) ^ 0xE4C4);
        EnrichmentTraits {
            findable: rng.chance(55),
            objected: rng.below(1000) < 3,
            slow_mail_server: rng.chance(8),
        }
    }
}

/// A person as the enrichment providers see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrichmentTraits {
    /// Hunter's finder has a source for their address (when it knows the domain).
    pub findable: bool,
    /// They asked Hunter to stop processing their data (its 451).
    pub objected: bool,
    /// Their mail server makes a verification run long (Hunter's 202).
    pub slow_mail_server: bool,
}

fn percent_encode(slug: &str) -> String {
    percent_encoding::utf8_percent_encode(slug, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
}

/// Coverage per vendor, in percent: the same person at several vendors is what
/// de-duplication is for.
const COVERAGE: [(Vendor, u64); 4] =
    [(Vendor::Apollo, 50), (Vendor::ZoomInfo, 35), (Vendor::BrightData, 45), (Vendor::SalesNav, 20)];

/// The whole population for a seed.
#[derive(Debug, Clone)]
pub struct Population {
    pub seed: u64,
    pub people: Vec<Person>,
    pub companies: Vec<Company>,
    by_apollo_id: std::collections::HashMap<String, u32>,
    by_domain: std::collections::HashMap<String, usize>,
    /// People per company.
    staff: Vec<u32>,
    /// `(company, lower-case first name, lower-case last name)` → people of that name there.
    by_name_at: std::collections::HashMap<(usize, String, String), Vec<u32>>,
}

/// ZoomInfo ids are `1_000_000_000 + 13 × index`.
const ZOOMINFO_BASE: u64 = 1_000_000_000;

impl Population {
    pub fn generate(seed: u64, size: u32) -> Population {
        let companies = companies(seed);
        let people: Vec<Person> = (0..size).map(|i| person(seed, i, &companies)).collect();
        let by_apollo_id = people.iter().map(|p| (p.apollo_id.clone(), p.index)).collect();
        let by_domain = companies.iter().enumerate().map(|(i, c)| (c.domain.clone(), i)).collect();
        let mut by_name_at: std::collections::HashMap<_, Vec<u32>> = std::collections::HashMap::new();
        let mut staff = vec![0; companies.len()];
        for p in &people {
            staff[p.company_index] += 1;
            let key = (p.company_index, p.first_name.to_lowercase(), p.last_name.to_lowercase());
            by_name_at.entry(key).or_default().push(p.index);
        }
        Population { seed, people, companies, by_apollo_id, by_domain, staff, by_name_at }
    }

    /// The person whose address has this local part (the population's local parts
    /// end in the person's index).
    pub fn by_local_part(&self, local: &str) -> Option<&Person> {
        let digits = local.len() - local.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let index: usize = local[local.len() - digits..].parse().ok()?;
        self.people.get(index).filter(|p| p.email.split('@').next() == Some(local))
    }

    /// How many people of the population work at a company.
    pub fn staff(&self, company: usize) -> u32 {
        self.staff.get(company).copied().unwrap_or(0)
    }

    /// The company at `domain` (bare, lower case).
    pub fn company_at(&self, domain: &str) -> Option<(usize, &Company)> {
        let index = *self.by_domain.get(domain)?;
        Some((index, &self.companies[index]))
    }

    /// The people of that name at a company (names compared without case).
    pub fn named_at(&self, company: usize, first: &str, last: &str) -> impl Iterator<Item = &Person> {
        let key = (company, first.to_lowercase(), last.to_lowercase());
        self.by_name_at.get(&key).into_iter().flatten().map(|&i| &self.people[i as usize])
    }

    /// The person with this ZoomInfo id.
    pub fn by_zoominfo_id(&self, id: u64) -> Option<&Person> {
        let offset = id.checked_sub(ZOOMINFO_BASE)?;
        (offset % 13 == 0).then(|| self.people.get((offset / 13) as usize)).flatten()
    }

    /// The person with this Apollo id.
    pub fn by_apollo_id(&self, id: &str) -> Option<&Person> {
        self.by_apollo_id.get(id).map(|&i| &self.people[i as usize])
    }

    /// People of a family in the given metros (all metros when `metros` is empty),
    /// known to `vendor`, in a stable order.
    pub fn matching<'a>(
        &'a self,
        vendor: Vendor,
        families: &'a [&'a str],
        metros: &'a [usize],
    ) -> impl Iterator<Item = &'a Person> + 'a {
        self.people.iter().filter(move |p| {
            p.known_to(vendor)
                && (families.is_empty() || families.contains(&p.family))
                && (metros.is_empty() || metros.contains(&p.metro))
        })
    }
}

/// The job family a free-text title belongs to, if any.
pub fn family_of(title: &str) -> Option<&'static str> {
    let t = title.to_lowercase();
    if t.contains("operations") {
        Some("operations")
    } else if ["paid", "ppc", "search", "social"].iter().any(|w| t.contains(w)) {
        Some("paid")
    } else if ["performance", "growth", "digital"].iter().any(|w| t.contains(w)) {
        Some("performance")
    } else {
        None
    }
}

/// The metro named by "City, ST" (or a city alone), if the population has it.
pub fn metro_of(location: &str) -> Option<usize> {
    let city = location.split(',').next().unwrap_or("").trim().to_lowercase();
    METROS.iter().position(|(c, _)| c.to_lowercase() == city)
}

/// An employer, with what the enrichment providers know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    pub name: String,
    pub domain: String,
    pub industry: &'static str,
    pub employees: u32,
    /// Its mail server accepts every address (about one company in five): no
    /// verifier can tell a real mailbox there from a made-up one.
    pub catch_all: bool,
    /// Hunter has found addresses at this domain on the web.
    pub known_to_hunter: bool,
    /// Apollo's organization data covers it.
    pub known_to_apollo: bool,
    /// How its domain takes mail (DNS).
    pub mail: MailSetup,
}

/// A company domain's mail setup, as DNS tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailSetup {
    /// MX records (most domains).
    Mx,
    /// No MX: mail goes to the address record (RFC 5321's implicit MX; 3%).
    AddressOnly,
    /// A null MX (RFC 7505): the domain takes no mail (1%, e.g. a brand site).
    NullMx,
}

impl Company {
    /// Its LinkedIn page, as profiles link it.
    pub fn linkedin_url(&self) -> String {
        format!("https://www.linkedin.com/company/{}", self.domain.trim_end_matches(".com"))
    }
}

/// A fixed pool of companies, so many people share an employer (and a domain).
fn companies(seed: u64) -> Vec<Company> {
    let mut rng = SplitMix::new(seed ^ 0xC0FFEE);
    (0..2000u32)
        .map(|i| {
            let word = rng.pick(&COMPANY_WORDS);
            let suffix = rng.pick(&COMPANY_SUFFIXES);
            let name = format!("{word} {suffix} {}", i + 1);
            let domain =
                format!("{}{}{}.com", word.to_lowercase().replace(' ', ""), suffix.to_lowercase(), i + 1);
            let employees = [12, 48, 120, 450, 1200, 5000][rng.below(6) as usize];
            // A stream of its own, so the companies above stay what they were.
            let mut known = SplitMix::new(seed ^ 0x00E7_A1C4 ^ u64::from(i).wrapping_mul(0x9E37));
            let (catch_all, known_to_hunter, known_to_apollo) =
                (known.chance(20), known.chance(85), known.chance(90));
            let mail = match known.below(100) {
                0 => MailSetup::NullMx,
                1..=3 => MailSetup::AddressOnly,
                _ => MailSetup::Mx,
            };
            Company {
                name,
                domain,
                industry: rng.pick::<&str>(&INDUSTRIES),
                employees,
                catch_all,
                // Hunter finds no addresses at a domain that takes no mail.
                known_to_hunter: known_to_hunter && mail != MailSetup::NullMx,
                known_to_apollo,
                mail,
            }
        })
        .collect()
}

fn person(seed: u64, index: u32, companies: &[Company]) -> Person {
    let mut rng = SplitMix::new(seed.wrapping_mul(0x1000_0001).wrapping_add(u64::from(index)));
    let first = *rng.pick(&FIRST);
    let last = *rng.pick(&LAST);
    let family = pick_family(&mut rng);
    let (family_name, titles) = FAMILIES[family];
    let title = rng.pick(titles).to_string();
    let metro = if rng.chance(60) { rng.below(5) } else { 5 + rng.below(5) } as usize;
    let company_index = rng.below(companies.len() as u64) as usize;
    let company = &companies[company_index];
    let ascii_last: String = last.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect();
    let local = format!("{}.{}{}", fold_ascii(first), fold_ascii(&ascii_last), index);
    let email =
        if rng.chance(12) { format!("{local}@gmail.com") } else { format!("{local}@{}", company.domain) };
    let slug = format!("{}-{}-{:x}", first.to_lowercase(), ascii_last, index);
    let coverage =
        COVERAGE.iter().filter(|(_, pct)| rng.chance(*pct)).fold(0u8, |acc, (v, _)| acc | 1 << *v as u8);
    Person {
        index,
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        family: family_name,
        title,
        metro,
        company: company.name.clone(),
        domain: company.domain.clone(),
        industry: company.industry,
        employees: company.employees,
        email,
        slug,
        member_id: 100_000_000 + u64::from(index) * 7 + rng.below(7),
        apollo_id: format!("{:016x}{:08x}", rng.next_u64(), index),
        zoominfo_id: ZOOMINFO_BASE + u64::from(index) * 13,
        company_index,
        coverage,
    }
}

fn pick_family(rng: &mut SplitMix) -> usize {
    let roll = rng.below(100);
    let mut acc = 0;
    FAMILY_SHARE
        .iter()
        .position(|share| {
            acc += share;
            roll < acc
        })
        .unwrap_or(0)
}

/// ASCII letters for an email local part (`Zoë` → `zoe`, `Jürgen` → `jurgen`).
fn fold_ascii(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'ä' | 'à' | 'á' => Some('a'),
            'é' | 'è' | 'ë' => Some('e'),
            'ï' | 'í' => Some('i'),
            'ö' | 'ó' => Some('o'),
            'ü' | 'ú' => Some('u'),
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_people_other_seed_other_people() {
        let a = Population::generate(7, 500);
        let b = Population::generate(7, 500);
        let c = Population::generate(8, 500);
        assert_eq!(a.people, b.people);
        assert_ne!(a.people, c.people);
    }

    #[test]
    fn identifiers_are_unique_and_valid() {
        let pop = Population::generate(1, 20_000);
        let unique = |f: &dyn Fn(&Person) -> String| {
            let set: std::collections::HashSet<String> = pop.people.iter().map(f).collect();
            set.len()
        };
        assert_eq!(unique(&|p| p.slug.clone()), 20_000);
        assert_eq!(unique(&|p| p.email.clone()), 20_000);
        assert_eq!(unique(&|p| p.apollo_id.clone()), 20_000);
        assert_eq!(unique(&|p| p.member_id.to_string()), 20_000);
        for p in pop.people.iter().take(500) {
            assert!(crate::lead::identity::email(&p.email).is_ok_and(|e| !e.is_role), "{}", p.email);
            let url = crate::lead::identity::linkedin(&p.linkedin_url());
            assert!(
                matches!(url, Ok(crate::lead::identity::LinkedInValue::Profile(_))),
                "{}",
                p.linkedin_url()
            );
        }
    }

    #[test]
    fn shares_are_roughly_as_designed() {
        let pop = Population::generate(3, 60_000);
        let share = |f: &dyn Fn(&Person) -> bool| pop.people.iter().filter(|p| f(p)).count() * 100 / 60_000;
        assert!((48..=52).contains(&share(&|p| p.known_to(Vendor::Apollo))));
        assert!((33..=37).contains(&share(&|p| p.known_to(Vendor::ZoomInfo))));
        assert!((38..=42).contains(&share(&|p| p.family == "performance")));
        assert!((10..=14).contains(&share(&|p| p.metro == 3)), "Chicago");
        let known_to_several = share(&|p| {
            [Vendor::Apollo, Vendor::ZoomInfo, Vendor::BrightData].iter().filter(|v| p.known_to(**v)).count()
                >= 2
        });
        assert!(known_to_several > 25, "overlap between vendors: {known_to_several}%");
    }

    #[test]
    fn queries_name_families_and_metros() {
        assert_eq!(family_of("PPC Manager"), Some("paid"));
        assert_eq!(family_of("Marketing Operations Manager"), Some("operations"));
        assert_eq!(family_of("Performance Marketing Manager"), Some("performance"));
        assert_eq!(family_of("Chef"), None);
        assert_eq!(metro_of("Chicago, IL"), Some(3));
        assert_eq!(metro_of("new york"), Some(0));
        assert_eq!(metro_of("Paris, France"), None);
    }
}
