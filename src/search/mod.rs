//! The search index (the only user of tantivy): a derived copy of the leads beside
//! the store, in `<data dir>/search/`. It owns the schema, indexing, queries, facets
//! and the sequence marker the caller uses to catch up; it never reads the store —
//! the pipeline feeds it. Each commit's payload records the store sequence it covers.

mod facets;
mod plan;
pub mod query;

use std::path::{Path, PathBuf};

use serde::Serialize;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::schema::{
    FAST, INDEXED, IndexRecordOption, NumericOptions, STORED, Schema, TantivyDocument, TextFieldIndexing,
    TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, Term};

use crate::lead::{Lead, LeadId, Millis};
pub use facets::{FacetCount, Facets};

/// How long opening the index writer waits out a busy lock.
const WRITER_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
pub use query::QueryError;

/// Bumped whenever the schema or the way a lead becomes a document changes; an
/// index of another version is rebuilt.
pub const INDEX_VERSION: u32 = 4;
/// Most hits one request may return.
pub const MAX_LIMIT: usize = 1000;
/// Deepest result a request may page to.
pub const MAX_OFFSET: usize = 100_000;

const TEXT_ANALYZER: &str = "lead_text";
const KEYWORD_ANALYZER: &str = "lead_keyword";
const PAYLOAD_PREFIX: &str = "leadsprint-search";

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("{0}")]
    BadRequest(String),
    #[error("search index {path}: {message} — run `leadsprint reindex` to rebuild it")]
    Index { path: PathBuf, message: String },
}

/// How hits are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Best match first (the empty query falls back to `Recent`).
    #[default]
    Relevance,
    /// Highest quality score first.
    Quality,
    /// Newest lead first.
    Recent,
    /// Oldest lead first.
    Oldest,
}

impl std::str::FromStr for Sort {
    type Err = String;
    fn from_str(s: &str) -> Result<Sort, String> {
        match s.to_ascii_lowercase().as_str() {
            "relevance" | "score" => Ok(Sort::Relevance),
            "quality" => Ok(Sort::Quality),
            "recent" | "recency" | "newest" => Ok(Sort::Recent),
            "oldest" => Ok(Sort::Oldest),
            _ => Err(format!("unknown sort '{s}'; use relevance, quality, recent or oldest")),
        }
    }
}

/// One search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub query: String,
    pub sort: Sort,
    pub limit: usize,
    pub offset: usize,
    /// Facet counts over every match (costs a pass over the matches).
    pub facets: bool,
    /// Values listed per facet (the most frequent first).
    pub facet_size: usize,
    /// Resolves relative times such as `created:>2h`.
    pub now: Millis,
    /// Lead ids merged into others → the lead they are now: `id:N` finds that lead.
    pub id_aliases: std::collections::BTreeMap<LeadId, LeadId>,
}

impl Request {
    pub fn new(query: &str, now: Millis) -> Request {
        Request {
            query: query.to_owned(),
            sort: Sort::Relevance,
            limit: 20,
            offset: 0,
            facets: false,
            facet_size: 10,
            now,
            id_aliases: std::collections::BTreeMap::new(),
        }
    }
}

/// A matching lead: its id and, for relevance order, its score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Hit {
    pub id: LeadId,
    pub score: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Results {
    /// Every matching lead, not only this page.
    pub total: u64,
    pub hits: Vec<Hit>,
    pub facets: Option<Facets>,
}

/// The index's field handles.
#[derive(Clone, Copy)]
struct Fields {
    id: tantivy::schema::Field,
    name: tantivy::schema::Field,
    title: tantivy::schema::Field,
    company: tantivy::schema::Field,
    location: tantivy::schema::Field,
    email: tantivy::schema::Field,
    vendor: tantivy::schema::Field,
    workflow: tantivy::schema::Field,
    domain: tantivy::schema::Field,
    seniority: tantivy::schema::Field,
    email_status: tantivy::schema::Field,
    city: tantivy::schema::Field,
    region: tantivy::schema::Field,
    country: tantivy::schema::Field,
    linkedin: tantivy::schema::Field,
    has: tantivy::schema::Field,
    company_name: tantivy::schema::Field,
    quality: tantivy::schema::Field,
    created: tantivy::schema::Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text_indexing = TextFieldIndexing::default()
        .set_tokenizer(TEXT_ANALYZER)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let text = TextOptions::default().set_indexing_options(text_indexing);
    let keyword_indexing = TextFieldIndexing::default()
        .set_tokenizer(KEYWORD_ANALYZER)
        .set_index_option(IndexRecordOption::Basic);
    let keyword = TextOptions::default().set_indexing_options(keyword_indexing.set_fieldnorms(false));
    // Facet fields keep the vendor's spelling in a fast column for display.
    let facet = keyword.clone().set_fast("raw");
    let number = NumericOptions::default() | INDEXED | FAST;
    let fields = Fields {
        id: b.add_u64_field("id", number.clone() | STORED),
        name: b.add_text_field("name", text.clone()),
        title: b.add_text_field("title", text.clone()),
        company: b.add_text_field("company", text.clone()),
        location: b.add_text_field("location", text.clone()),
        email: b.add_text_field("email", text),
        vendor: b.add_text_field("vendor", facet.clone()),
        workflow: b.add_text_field("workflow", facet.clone()),
        domain: b.add_text_field("domain", keyword.clone()),
        seniority: b.add_text_field("seniority", facet.clone()),
        email_status: b.add_text_field("email_status", facet.clone()),
        city: b.add_text_field("city", facet.clone()),
        region: b.add_text_field("region", facet.clone()),
        country: b.add_text_field("country", facet.clone()),
        linkedin: b.add_text_field("linkedin", keyword.clone()),
        has: b.add_text_field("has", keyword),
        company_name: b.add_text_field("company_name", TextOptions::default().set_fast("raw")),
        quality: b.add_u64_field("quality", number.clone()),
        created: b.add_i64_field("created", number),
    };
    (b.build(), fields)
}

fn register_analyzers(index: &Index) {
    let text = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build();
    let keyword =
        TextAnalyzer::builder(RawTokenizer::default()).filter(LowerCaser).filter(AsciiFoldingFilter).build();
    index.tokenizers().register(TEXT_ANALYZER, text);
    index.tokenizers().register(KEYWORD_ANALYZER, keyword);
}

/// The open index: searchable from any thread; [`SearchIndex::indexer`] writes it.
pub struct SearchIndex {
    path: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    covered: Option<u64>,
}

impl SearchIndex {
    /// Opens `dir`, creating it, or re-creating it when it is of another version or
    /// unreadable (it is derived data: [`SearchIndex::covered_seq`] is then `None`
    /// and the caller feeds every lead again).
    pub fn open(dir: &Path) -> Result<SearchIndex, SearchError> {
        let (schema, fields) = schema();
        let fail =
            |e: &dyn std::fmt::Display| SearchError::Index { path: dir.to_owned(), message: e.to_string() };
        let (index, covered) = match open_existing(dir, &schema) {
            Some(found) => found,
            None => {
                if dir.exists() {
                    tracing::warn!(dir = %dir.display(), "search index unreadable or of another version; rebuilding it");
                    std::fs::remove_dir_all(dir).map_err(|e| fail(&e))?;
                }
                std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
                (Index::create_in_dir(dir, schema).map_err(|e| fail(&e))?, None)
            }
        };
        register_analyzers(&index);
        let reader =
            index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(|e| fail(&e))?;
        Ok(SearchIndex { path: dir.to_owned(), index, reader, fields, covered })
    }

    /// Deletes whatever is at `dir` and creates an empty index there.
    pub fn recreate(dir: &Path) -> Result<SearchIndex, SearchError> {
        if dir.exists() {
            let message = |e: std::io::Error| format!("cannot clear it: {e}");
            std::fs::remove_dir_all(dir)
                .map_err(|e| SearchError::Index { path: dir.to_owned(), message: message(e) })?;
        }
        SearchIndex::open(dir)
    }

    /// The store sequence the last commit covers; `None` when the index is new or was
    /// reset and needs every lead.
    pub fn covered_seq(&self) -> Option<u64> {
        self.covered
    }

    /// Documents in the index.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The writer; one at a time. `threads` indexing threads share `heap_bytes`.
    pub fn indexer(&self, threads: usize, heap_bytes: usize) -> Result<Indexer, SearchError> {
        let deadline = std::time::Instant::now() + WRITER_LOCK_WAIT;
        let writer: IndexWriter<TantivyDocument> = loop {
            match self.index.writer_with_num_threads(threads, heap_bytes) {
                Ok(writer) => break writer,
                // The lock is a file lock: a process forked a moment ago (to run some
                // other program) holds it until it execs, so a busy lock is waited out.
                Err(tantivy::TantivyError::LockFailure(
                    tantivy::directory::error::LockError::LockBusy,
                    _,
                )) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(self.error(e)),
            }
        };
        Ok(Indexer { writer, reader: self.reader.clone(), fields: self.fields, path: self.path.clone() })
    }

    /// Runs one search.
    pub fn search(&self, request: &Request) -> Result<Results, SearchError> {
        check_request(request)?;
        let node = query::parse(&request.query, request.now)?;
        let sort = match (&node, request.sort) {
            (query::Node::All, Sort::Relevance) => Sort::Recent,
            (_, sort) => sort,
        };
        let searcher = self.reader.searcher();
        let plan =
            plan::build(&self.index, &self.fields, &node, &request.id_aliases).map_err(|e| self.error(e))?;
        let top = TopDocs::with_limit(request.limit.max(1)).and_offset(request.offset);
        let facets = request.facets.then(|| facets::FacetCollector::new(request.facet_size));
        // Counting and ranking share one pass unless ranking alone can skip: by
        // relevance over words, block-WAND skips blocks that cannot reach the top and
        // a single term is counted from its document frequency. A field sort or a
        // phrase/fuzzy leaf visits every match anyway, so a second pass only costs.
        let apart = sort == Sort::Relevance && !plan.visits_every_match;
        let pass = Pass { searcher: &searcher, query: plan.query.as_ref(), apart, facets };
        let (total, facets, ranked) = match sort {
            Sort::Relevance => pass.run(top.order_by_score(), Some),
            Sort::Quality => pass.run(top.order_by_fast_field::<u64>("quality", Order::Desc), |_| None),
            Sort::Recent | Sort::Oldest => {
                let order = if sort == Sort::Recent { Order::Desc } else { Order::Asc };
                pass.run(top.order_by_fast_field::<i64>("created", order), |_| None)
            }
        }
        .map_err(|e| self.error(e))?;
        let mut hits = self.hits(&searcher, ranked)?;
        hits.truncate(request.limit);
        Ok(Results { total, hits, facets })
    }

    /// The lead ids `query` names one by one (`id:42`); none when it cannot be read.
    pub fn exact_ids(&self, query: &str, now: Millis) -> Vec<LeadId> {
        query::parse(query, now).map(|node| query::exact_ids(&node)).unwrap_or_default()
    }

    /// Every lead matching `query`, in id order (for filtered exports); `id_aliases`
    /// as in [`Request`].
    pub fn matching_ids(
        &self,
        query: &str,
        now: Millis,
        id_aliases: &std::collections::BTreeMap<LeadId, LeadId>,
    ) -> Result<Vec<LeadId>, SearchError> {
        let node = query::parse(query, now)?;
        let searcher = self.reader.searcher();
        let plan = plan::build(&self.index, &self.fields, &node, id_aliases).map_err(|e| self.error(e))?;
        let docs = searcher.search(plan.query.as_ref(), &DocSetCollector).map_err(|e| self.error(e))?;
        let mut ids: Vec<LeadId> =
            self.lead_ids(&searcher, docs.into_iter())?.into_iter().flatten().collect();
        ids.sort_unstable();
        Ok(ids)
    }

    fn hits(
        &self,
        searcher: &Searcher,
        ranked: Vec<(Option<f32>, DocAddress)>,
    ) -> Result<Vec<Hit>, SearchError> {
        let ids = self.lead_ids(searcher, ranked.iter().map(|(_, a)| *a))?;
        Ok(ranked
            .iter()
            .zip(ids)
            .filter_map(|((score, _), id)| Some(Hit { id: id?, score: *score }))
            .collect())
    }

    /// The lead id of each document, reading each segment's id column once.
    fn lead_ids(
        &self,
        searcher: &Searcher,
        addresses: impl Iterator<Item = DocAddress>,
    ) -> Result<Vec<Option<LeadId>>, SearchError> {
        let mut columns = std::collections::HashMap::new();
        let mut out = Vec::new();
        for address in addresses {
            let column = match columns.entry(address.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    searcher
                        .segment_reader(address.segment_ord)
                        .fast_fields()
                        .u64("id")
                        .map_err(|e| self.error(e))?,
                ),
            };
            out.push(column.first(address.doc_id));
        }
        Ok(out)
    }

    fn error(&self, e: impl std::fmt::Display) -> SearchError {
        SearchError::Index { path: self.path.clone(), message: e.to_string() }
    }
}

/// One search's collection: the total, the facets if asked, and the ranked page.
struct Pass<'a> {
    searcher: &'a Searcher,
    query: &'a dyn tantivy::query::Query,
    /// Count (and facets) in a pass of their own, so the ranking pass may skip.
    apart: bool,
    facets: Option<facets::FacetCollector>,
}

type Ranked = Vec<(Option<f32>, DocAddress)>;

impl Pass<'_> {
    /// Runs `ranker`, turning each hit's sort key into its score with `score`.
    fn run<R, K>(
        self,
        ranker: R,
        score: fn(K) -> Option<f32>,
    ) -> tantivy::Result<(u64, Option<Facets>, Ranked)>
    where
        R: tantivy::collector::Collector<Fruit = Vec<(K, DocAddress)>>,
    {
        let (total, facets, docs) = if self.apart {
            let (total, facets) = match self.facets {
                Some(f) => self.searcher.search(self.query, &(Count, f)).map(|(t, f)| (t, Some(f)))?,
                None => (self.searcher.search(self.query, &Count)?, None),
            };
            (total, facets, self.searcher.search(self.query, &ranker)?)
        } else {
            self.searcher.search(self.query, &(Count, self.facets, ranker))?
        };
        let ranked = docs.into_iter().map(|(key, doc)| (score(key), doc)).collect();
        Ok((total as u64, facets, ranked))
    }
}

fn check_request(request: &Request) -> Result<(), SearchError> {
    if request.limit > MAX_LIMIT {
        let m = format!("limit {} is over {MAX_LIMIT}; page with offset instead", request.limit);
        return Err(SearchError::BadRequest(m));
    }
    if request.offset > MAX_OFFSET {
        let m = format!("offset {} is over {MAX_OFFSET}; narrow the query instead", request.offset);
        return Err(SearchError::BadRequest(m));
    }
    Ok(())
}

/// The existing index at `dir` when it is ours, of this version and readable, with
/// the sequence its last commit covers.
fn open_existing(dir: &Path, schema: &Schema) -> Option<(Index, Option<u64>)> {
    let index = Index::open_in_dir(dir).ok()?;
    if index.schema() != *schema {
        return None;
    }
    let payload = index.load_metas().ok()?.payload;
    match payload.as_deref().map(parse_payload) {
        // A fresh index that never committed has no payload; anything else must be ours.
        None => Some((index, None)),
        Some(Some(seq)) => Some((index, Some(seq))),
        Some(None) => None,
    }
}

fn payload(seq: u64) -> String {
    format!("{PAYLOAD_PREFIX} v{INDEX_VERSION} seq={seq}")
}

fn parse_payload(text: &str) -> Option<u64> {
    let rest = text.strip_prefix(&format!("{PAYLOAD_PREFIX} v{INDEX_VERSION} seq="))?;
    rest.parse().ok()
}

/// Writes the index: upserts leads, commits with the store sequence covered.
pub struct Indexer {
    writer: IndexWriter<TantivyDocument>,
    reader: IndexReader,
    fields: Fields,
    path: PathBuf,
}

impl Indexer {
    /// Adds `lead`, replacing its earlier document unless `is_new` says it has none.
    pub fn upsert(&mut self, lead: &Lead, is_new: bool) -> Result<(), SearchError> {
        if !is_new {
            self.writer.delete_term(Term::from_field_u64(self.fields.id, lead.id));
        }
        let doc = document(&self.fields, lead);
        self.writer.add_document(doc).map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Drops lead `id`'s document (the lead was merged into another, or erased).
    pub fn delete(&mut self, id: LeadId) {
        self.writer.delete_term(Term::from_field_u64(self.fields.id, id));
    }

    /// Rewrites the segments that hold deleted documents and removes the old
    /// files, so an erased lead's text leaves the index's files too (a deleted
    /// document otherwise stays on disk until a merge happens to take it).
    pub fn purge_deleted(&mut self) -> Result<(), SearchError> {
        let metas = self.writer.index().searchable_segment_metas().map_err(|e| self.error(e))?;
        let ids: Vec<tantivy::index::SegmentId> =
            metas.iter().filter(|m| m.has_deletes()).map(|m| m.id()).collect();
        if !ids.is_empty() {
            self.writer.merge(&ids).wait().map_err(|e| self.error(e))?;
        }
        self.writer.garbage_collect_files().wait().map_err(|e| self.error(e))?;
        self.reader.reload().map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Drops every document (before a rebuild).
    pub fn clear(&mut self) -> Result<(), SearchError> {
        self.writer.delete_all_documents().map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Makes everything added so far durable and searchable, recording that the
    /// index now covers the store up to `seq`.
    pub fn commit(&mut self, seq: u64) -> Result<(), SearchError> {
        let path = &self.path;
        let fail =
            |e: tantivy::TantivyError| SearchError::Index { path: path.clone(), message: e.to_string() };
        let mut prepared = self.writer.prepare_commit().map_err(fail)?;
        prepared.set_payload(&payload(seq));
        prepared.commit().map_err(fail)?;
        self.reader.reload().map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Waits for background merges to finish (before the process exits).
    pub fn finish(self) -> Result<(), SearchError> {
        let path = self.path.clone();
        self.writer.wait_merging_threads().map_err(|e| SearchError::Index { path, message: e.to_string() })
    }

    fn error(&self, e: impl std::fmt::Display) -> SearchError {
        SearchError::Index { path: self.path.clone(), message: e.to_string() }
    }
}

/// A lead as an index document.
fn document(f: &Fields, lead: &Lead) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_u64(f.id, lead.id);
    let names = [lead.full_name.as_deref(), lead.first_name.as_deref(), lead.last_name.as_deref()];
    doc.add_text(f.name, join(names.into_iter().flatten()));
    let texts = [(f.title, lead.job_title.as_deref()), (f.seniority, lead.seniority.as_deref())];
    let places = [
        (f.city, &lead.location.city),
        (f.region, &lead.location.region),
        (f.country, &lead.location.country),
    ];
    for (field, value) in texts.into_iter().chain(places.iter().map(|(f, v)| (*f, v.as_deref()))) {
        if let Some(v) = value {
            doc.add_text(field, v);
        }
    }
    let company = &lead.company;
    let company_parts = [company.name.as_deref(), company.domain.as_deref(), company.industry.as_deref()];
    doc.add_text(f.company, join(company_parts.into_iter().flatten()));
    if let Some(name) = &company.name {
        doc.add_text(f.company_name, name);
    }
    let location = &lead.location;
    let location_parts = [location.city.as_deref(), location.region.as_deref(), location.country.as_deref()];
    doc.add_text(f.location, join(location_parts.into_iter().flatten()));
    add_emails(&mut doc, f, lead);
    if lead.email.is_some() {
        doc.add_text(f.email_status, lead.email_status.as_str());
    }
    add_unique(&mut doc, f.vendor, lead.sources.iter().map(|s| s.vendor.as_str()));
    add_unique(&mut doc, f.workflow, lead.sources.iter().map(|s| s.workflow.as_str()));
    // Profile slugs only: the query side reduces a URL to its slug (fewer unique terms).
    let urls = lead.linkedin_url.iter().chain(&lead.identity.linkedin_urls);
    add_unique(&mut doc, f.linkedin, urls.filter_map(|u| u.trim_end_matches('/').rsplit('/').next()));
    add_unique(&mut doc, f.has, has_values(lead));
    doc.add_u64(f.quality, u64::from(lead.quality.score));
    doc.add_i64(f.created, lead.created_at);
    doc
}

fn add_emails(doc: &mut TantivyDocument, f: &Fields, lead: &Lead) {
    let emails: Vec<&str> = lead.email.iter().chain(&lead.identity.emails).map(String::as_str).collect();
    doc.add_text(f.email, emails.join(" "));
    let email_domains = emails.iter().filter_map(|e| e.rsplit_once('@').map(|(_, d)| d));
    add_unique(doc, f.domain, email_domains.chain(lead.company.domain.as_deref()));
}

fn has_values(lead: &Lead) -> impl Iterator<Item = &'static str> {
    let present = [
        ("email", lead.email.is_some()),
        ("linkedin", lead.linkedin_url.is_some()),
        ("phone", lead.phone.is_some()),
        ("title", lead.job_title.is_some()),
        ("company", lead.company.name.is_some()),
        ("location", lead.location.city.is_some() || lead.location.country.is_some()),
        ("is-review", lead.needs_review()),
        ("is-merged", !lead.absorbed.is_empty()),
    ];
    present.into_iter().filter(|(_, yes)| *yes).map(|(name, _)| name)
}

fn add_unique<'a>(
    doc: &mut TantivyDocument,
    field: tantivy::schema::Field,
    values: impl Iterator<Item = &'a str>,
) {
    let mut seen: Vec<String> = Vec::new();
    for value in values {
        let key = value.to_lowercase();
        if !seen.contains(&key) {
            doc.add_text(field, value);
            seen.push(key);
        }
    }
}

fn join<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    parts.collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
