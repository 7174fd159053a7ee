//! A do-not-contact list from a file: one entry per line (an email, `@domain`,
//! LinkedIn profile URL or profile ID; `#` starts a comment), or a CSV whose header
//! names such columns (`Email`, `Domain`, `Person Linkedin Url`, `Apollo Contact
//! Id`, …, as the lead import knows them). Every line that holds no entry is
//! reported with its number and why; nothing is guessed.

use serde::Serialize;

use super::columns::{self, Field, Mapper};
use crate::lead::Suppression;

/// What a list file held.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ListFile {
    pub entries: Vec<Suppression>,
    pub rejected: Vec<RejectedLine>,
    /// The CSV columns read (empty for a plain list).
    pub columns: Vec<String>,
}

/// A line that holds no entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedLine {
    pub line: u64,
    pub text: String,
    pub reason: String,
}

/// Reads a list file's bytes (UTF-8, with or without BOM).
pub fn read_list(bytes: &[u8]) -> ListFile {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let first = text.lines().find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    match first.and_then(csv_columns) {
        Some((delimiter, columns)) => read_csv(text, delimiter, &columns),
        None => read_lines(text),
    }
}

/// A list column: its position, what it holds, its header.
type Column = (usize, Field, String);

/// A header line's delimiter and its list columns.
fn csv_columns(header: &str) -> Option<(u8, Vec<Column>)> {
    let delimiter = [b',', b';', b'\t', b'|'].into_iter().find(|d| header.as_bytes().contains(d))?;
    let mapper = Mapper::new(&[]).ok()?;
    let names: Vec<&str> = header.split(char::from(delimiter)).map(|h| h.trim().trim_matches('"')).collect();
    let columns: Vec<Column> = names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let field = match columns::fold(name).as_str() {
                "domain" | "emaildomain" => Some(Field::CompanyDomain),
                _ => mapper.field(name, "file"),
            }?;
            (field.is_identity() || field == Field::CompanyDomain).then(|| (i, field, (*name).to_owned()))
        })
        .collect();
    (!columns.is_empty()).then_some((delimiter, columns))
}

fn read_csv(text: &str, delimiter: u8, columns: &[Column]) -> ListFile {
    let mut out =
        ListFile { columns: columns.iter().map(|(_, _, n)| n.clone()).collect(), ..ListFile::default() };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                out.rejected.push(RejectedLine { line, text: String::new(), reason: e.to_string() });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let before = out.entries.len();
        for (i, field, _) in columns {
            let Some(value) = record.get(*i).map(str::trim).filter(|v| !v.is_empty()) else { continue };
            match entry(*field, value) {
                Ok(entry) => out.entries.push(entry),
                Err(reason) => out.rejected.push(RejectedLine { line, text: value.to_owned(), reason }),
            }
        }
        if out.entries.len() == before && !out.rejected.iter().any(|r| r.line == line) {
            let text = record.iter().collect::<Vec<_>>().join(",");
            let reason = "no entry in this row's list columns".to_owned();
            out.rejected.push(RejectedLine { line, text, reason });
        }
    }
    out
}

/// The entry a CSV cell holds, read as its column says.
fn entry(field: Field, value: &str) -> Result<Suppression, String> {
    let namespaced = |ns: &str| if value.contains(':') { value.to_owned() } else { format!("{ns}:{value}") };
    match field {
        Field::CompanyDomain => {
            let domain = crate::lead::normalize::domain_of(value.trim_start_matches('@'))
                .ok_or_else(|| format!("{value:?} is not a web domain"))?;
            Suppression::parse(&format!("@{domain}"))
        }
        Field::ApolloId => Suppression::parse(&namespaced("apollo")),
        Field::ZoominfoId => Suppression::parse(&namespaced("zoominfo")),
        Field::BrightdataId => Suppression::parse(&namespaced("brightdata")),
        Field::LinkedinMemberId => Suppression::parse(&namespaced("li")),
        _ => Suppression::parse(value),
    }
}

fn read_lines(text: &str) -> ListFile {
    let mut out = ListFile::default();
    for (i, line) in text.lines().enumerate() {
        let value = line.split(" #").next().unwrap_or(line).trim();
        if value.is_empty() || value.starts_with('#') {
            continue;
        }
        match Suppression::parse(value) {
            Ok(entry) => out.entries.push(entry),
            Err(reason) => {
                out.rejected.push(RejectedLine { line: i as u64 + 1, text: value.to_owned(), reason })
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(list: &ListFile) -> Vec<String> {
        list.entries.iter().map(Suppression::encoded).collect()
    }

    #[test]
    fn a_plain_list_one_entry_per_line() {
        let text = "\u{feff}# do not contact\ndana@acme.com\n@Blocked.com\n\nhttps://www.linkedin.com/in/zed/  # asked us\napollo:42\nnot an entry\n";
        let list = read_list(text.as_bytes());
        assert_eq!(
            encoded(&list),
            ["e:dana@acme.com", "d:blocked.com", "u:linkedin.com/in/zed", "p:apollo:42"]
        );
        assert_eq!(list.rejected.len(), 1);
        assert_eq!((list.rejected[0].line, list.rejected[0].text.as_str()), (7, "not an entry"));
    }

    #[test]
    fn a_csv_with_entry_columns() {
        let text = "Name,Email,Website,Apollo Contact Id\nDana,dana@acme.com,,5f2a\nZed,,https://blocked.com/about,\nNobody,,,\nBad,not-an-email,,\n";
        let list = read_list(text.as_bytes());
        assert_eq!(list.columns, ["Email", "Website", "Apollo Contact Id"]);
        assert_eq!(encoded(&list), ["e:dana@acme.com", "p:apollo:5f2a", "d:blocked.com"]);
        let lines: Vec<u64> = list.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [4, 5], "{:?}", list.rejected);
    }
}
