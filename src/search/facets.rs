//! Facet counts over every match: per segment, counts by column ordinal (no string
//! work per document), then the non-zero ordinals are named and merged across
//! segments case-insensitively (the most common spelling is shown).

use std::collections::HashMap;

use serde::Serialize;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Cardinality, Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

/// Columns counted, in the order they are reported.
const FACET_FIELDS: [&str; 7] =
    ["vendor", "workflow", "city", "country", "seniority", "company_name", "email_status"];

/// Values one segment names per facet (see [`name_counts`]).
const NAMED_PER_SEGMENT: usize = 1000;

/// Quality bands: (label, lowest score in the band), highest band first.
const QUALITY_BANDS: [(&str, u64); 4] = [("80-100", 80), ("60-79", 60), ("40-59", 40), ("0-39", 0)];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// Counts per facet, most frequent value first (quality bands in band order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Facets {
    pub vendor: Vec<FacetCount>,
    pub workflow: Vec<FacetCount>,
    pub city: Vec<FacetCount>,
    pub country: Vec<FacetCount>,
    pub seniority: Vec<FacetCount>,
    pub company: Vec<FacetCount>,
    /// The primary email's status, for leads with an email.
    #[serde(default)]
    pub email_status: Vec<FacetCount>,
    pub quality: Vec<FacetCount>,
}

pub(super) struct FacetCollector {
    size: usize,
}

impl FacetCollector {
    pub(super) fn new(size: usize) -> FacetCollector {
        FacetCollector { size: size.clamp(1, 1000) }
    }
}

/// One segment's counts, named: per facet, lower-cased value → (spellings, count).
pub(super) struct SegmentCounts {
    fields: Vec<HashMap<String, Spellings>>,
    bands: [u64; QUALITY_BANDS.len()],
}

#[derive(Default)]
struct Spellings {
    count: u64,
    /// (spelling, count) — few per value.
    forms: Vec<(String, u64)>,
}

impl Spellings {
    fn add(&mut self, form: &str, count: u64) {
        self.count += count;
        match self.forms.iter_mut().find(|(f, _)| f == form) {
            Some((_, n)) => *n += count,
            None => self.forms.push((form.to_owned(), count)),
        }
    }

    fn label(&self) -> String {
        let best = self.forms.iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)));
        best.map(|(f, _)| f.clone()).unwrap_or_default()
    }
}

pub(super) struct FacetSegment {
    columns: Vec<Option<StrColumn>>,
    counts: Vec<Vec<u32>>,
    quality: Column<u64>,
    bands: [u64; QUALITY_BANDS.len()],
}

impl Collector for FacetCollector {
    type Fruit = Facets;
    type Child = FacetSegment;

    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<FacetSegment> {
        let fast = segment.fast_fields();
        let mut columns = Vec::with_capacity(FACET_FIELDS.len());
        for name in FACET_FIELDS {
            columns.push(fast.str(name)?);
        }
        let counts = columns.iter().map(|c| vec![0; c.as_ref().map_or(0, |c| c.num_terms())]).collect();
        Ok(FacetSegment { columns, counts, quality: fast.u64("quality")?, bands: [0; QUALITY_BANDS.len()] })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<SegmentCounts>) -> tantivy::Result<Facets> {
        let mut fields: Vec<HashMap<String, Spellings>> =
            (0..FACET_FIELDS.len()).map(|_| HashMap::new()).collect();
        let mut bands = [0; QUALITY_BANDS.len()];
        for segment in segments {
            for (all, part) in fields.iter_mut().zip(segment.fields) {
                for (key, spellings) in part {
                    let entry = all.entry(key).or_default();
                    for (form, n) in spellings.forms {
                        entry.add(&form, n);
                    }
                }
            }
            bands.iter_mut().zip(segment.bands).for_each(|(all, n)| *all += n);
        }
        let mut top = fields.into_iter().map(|f| top_values(f, self.size));
        let mut next = || top.next().unwrap_or_default();
        let quality = QUALITY_BANDS
            .iter()
            .zip(bands)
            .map(|((label, _), count)| FacetCount { value: (*label).to_owned(), count });
        Ok(Facets {
            vendor: next(),
            workflow: next(),
            city: next(),
            country: next(),
            seniority: next(),
            company: next(),
            email_status: next(),
            quality: quality.collect(),
        })
    }
}

fn top_values(values: HashMap<String, Spellings>, size: usize) -> Vec<FacetCount> {
    let mut out: Vec<FacetCount> =
        values.into_values().map(|s| FacetCount { value: s.label(), count: s.count }).collect();
    out.sort_unstable_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    out.truncate(size);
    out
}

impl SegmentCollector for FacetSegment {
    type Fruit = SegmentCounts;

    /// Batches read single-valued columns a block at a time (much cheaper than a
    /// lookup per document); multi-valued ones (vendor, workflow) per document.
    fn collect_block(&mut self, docs: &[DocId]) {
        let mut values = vec![None; docs.len()];
        for (column, counts) in self.columns.iter().zip(&mut self.counts) {
            let Some(column) = column else { continue };
            if column.ords().get_cardinality() == Cardinality::Multivalued {
                for doc in docs {
                    count_ords(counts, column.term_ords(*doc));
                }
                continue;
            }
            column.ords().first_vals(docs, &mut values);
            count_ords(counts, values.iter().flatten().copied());
        }
        self.quality.first_vals(docs, &mut values);
        for score in &values {
            self.count_band(score.unwrap_or(0));
        }
    }

    fn collect(&mut self, doc: DocId, _: Score) {
        for (column, counts) in self.columns.iter().zip(&mut self.counts) {
            if let Some(column) = column {
                count_ords(counts, column.term_ords(doc));
            }
        }
        self.count_band(self.quality.first(doc).unwrap_or(0));
    }

    fn harvest(self) -> SegmentCounts {
        let fields = self
            .columns
            .iter()
            .zip(self.counts)
            .map(|(column, counts)| name_counts(column.as_ref(), &counts));
        SegmentCounts { fields: fields.collect(), bands: self.bands }
    }
}

impl FacetSegment {
    fn count_band(&mut self, score: u64) {
        if let Some(band) = QUALITY_BANDS.iter().position(|(_, low)| score >= *low) {
            self.bands[band] += 1;
        }
    }
}

fn count_ords(counts: &mut [u32], ords: impl Iterator<Item = u64>) {
    for ord in ords {
        if let Some(n) = counts.get_mut(ord as usize) {
            *n += 1;
        }
    }
}

/// The non-zero ordinals of one column, named, keyed by their lower-cased form.
/// A segment names at most [`NAMED_PER_SEGMENT`] values, its most frequent: exact
/// for every facet but company, whose long tail is approximated the way search
/// engines' shard-size terms counts are.
fn name_counts(column: Option<&StrColumn>, counts: &[u32]) -> HashMap<String, Spellings> {
    let mut out: HashMap<String, Spellings> = HashMap::new();
    let Some(column) = column else { return out };
    let mut ords: Vec<u64> = (0..counts.len() as u64).filter(|o| counts[*o as usize] > 0).collect();
    if ords.len() > NAMED_PER_SEGMENT {
        ords.select_nth_unstable_by_key(NAMED_PER_SEGMENT, |o| std::cmp::Reverse(counts[*o as usize]));
        ords.truncate(NAMED_PER_SEGMENT);
        ords.sort_unstable();
    }
    let mut counted = ords.iter().map(|o| u64::from(counts[*o as usize]));
    // The dictionary is read in one forward pass; a read error leaves the facet short.
    let named = column.dictionary().sorted_ords_to_term_cb(&ords, |bytes| {
        let form = String::from_utf8_lossy(bytes);
        let n = counted.next().unwrap_or(0);
        out.entry(form.to_lowercase()).or_default().add(&form, n);
    });
    if let Err(e) = named {
        tracing::warn!(error = %e, "facet values could not be read; counts are partial");
    }
    out
}
