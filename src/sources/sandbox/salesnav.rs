//! Sales Navigator's twin: there is no API to serve, so the sandbox writes the CSV
//! exports a user would drop into a workflow's inbox — the columns export tools
//! produce (`profileUrl`, `salesNavigatorUrl`, `vmid`), one row per file broken
//! on purpose to show the quarantine.

use std::io::Write;
use std::path::Path;

use super::population::{Person, Population, Vendor};

const HEADER: &str =
    "firstName,lastName,fullName,title,companyName,location,profileUrl,salesNavigatorUrl,vmid";

/// The member's Sales Navigator id, as export tools show it.
fn lead_id(p: &Person) -> String {
    format!("ACwAA{:010X}", p.member_id)
}

fn row(p: &Person) -> String {
    let id = lead_id(p);
    format!(
        "{},{},\"{} {}\",{},\"{}\",\"{}, {}, United States\",{}/,\"https://www.linkedin.com/sales/lead/{id},NAME_SEARCH,x7Yq\",{id}\n",
        p.first_name,
        p.last_name.replace('"', "\"\""),
        p.first_name,
        p.last_name.replace('"', "\"\""),
        p.title,
        p.company,
        p.city(),
        p.region(),
        p.linkedin_url(),
    )
}

/// Writes the exports of one segment (people of `families` that Sales Navigator
/// knows) into `folder` as files of `rows_per_file` rows; returns the files written.
pub fn write_exports(
    population: &Population,
    folder: &Path,
    families: &[&str],
    rows_per_file: usize,
) -> std::io::Result<usize> {
    std::fs::create_dir_all(folder)?;
    let people: Vec<&Person> = population.matching(Vendor::SalesNav, families, &[]).collect();
    let mut files = 0;
    for (n, chunk) in people.chunks(rows_per_file.max(1)).enumerate() {
        let mut file = std::fs::File::create(folder.join(format!("export-{:03}.csv", n + 1)))?;
        file.write_all(HEADER.as_bytes())?;
        file.write_all(b"\n")?;
        // A row broken the way spreadsheet edits break them: stray delimiters.
        file.write_all(b"Broken,Row,extra,\"field\",that,does,not,fit,the,header,at,all\n")?;
        for p in chunk {
            file.write_all(row(p).as_bytes())?;
        }
        files += 1;
    }
    Ok(files)
}

/// The demo's Sales Navigator segments: inbox folder and the title families exported.
pub const DEMO_SEGMENTS: [(&str, &[&str]); 2] =
    [("salesnav-segment-1", &["performance"]), ("salesnav-segment-2", &["paid", "operations"])];

/// Rows [`write_exports`] would write for `families` (a plan counts them without
/// writing files).
pub fn export_rows(population: &Population, families: &[&str]) -> usize {
    population.matching(Vendor::SalesNav, families, &[]).count()
}
