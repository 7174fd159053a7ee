//! A parsed query ([`Node`]) → a tantivy query over the index's fields. Words are
//! analysed exactly as the documents were (lower case, accents folded), so
//! `José` finds `jose` and `acme.com` becomes the phrase `acme com`.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, EmptyQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Index, Term};

use super::Fields;
use super::query::{Clause, Node, Value};
use crate::lead::LeadId;

/// Free-text words search these fields, weighted.
fn free_text_fields(f: &Fields) -> [(Field, f32); 5] {
    [(f.name, 3.0), (f.title, 2.0), (f.company, 2.0), (f.location, 1.0), (f.email, 1.0)]
}

/// A tantivy query, and what it costs to run.
pub(super) struct Plan {
    pub query: Box<dyn Query>,
    /// Some leaf is a phrase, fuzzy or prefix query: every match is verified or
    /// expanded one by one, so no pass over its matches can skip blocks.
    pub visits_every_match: bool,
}

pub(super) fn build(
    index: &Index,
    fields: &Fields,
    node: &Node,
    id_aliases: &BTreeMap<LeadId, LeadId>,
) -> tantivy::Result<Plan> {
    let planner = Planner { index, fields, id_aliases, costly: Cell::new(false) };
    let query = planner.node(node)?;
    Ok(Plan { query, visits_every_match: planner.costly.get() })
}

struct Planner<'a> {
    index: &'a Index,
    fields: &'a Fields,
    /// `id:N` of a lead merged into another finds that lead.
    id_aliases: &'a BTreeMap<LeadId, LeadId>,
    costly: Cell<bool>,
}

impl Planner<'_> {
    fn node(&self, node: &Node) -> tantivy::Result<Box<dyn Query>> {
        Ok(match node {
            Node::All => Box::new(AllQuery),
            Node::Clause(clause) => self.clause(clause)?,
            Node::Not(inner) => exclude(self.node(inner)?),
            Node::And(parts) => {
                let mut subs = Vec::with_capacity(parts.len() + 1);
                for part in parts {
                    subs.push(match part {
                        Node::Not(inner) => (Occur::MustNot, self.node(inner)?),
                        other => (Occur::Must, self.node(other)?),
                    });
                }
                if subs.iter().all(|(occur, _)| *occur == Occur::MustNot) {
                    subs.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(subs))
            }
            Node::Or(parts) => {
                let subs = parts
                    .iter()
                    .map(|p| Ok((Occur::Should, self.node(p)?)))
                    .collect::<tantivy::Result<_>>()?;
                Box::new(BooleanQuery::new(subs))
            }
        })
    }

    fn clause(&self, clause: &Clause) -> tantivy::Result<Box<dyn Query>> {
        let f = self.fields;
        let Some(name) = clause.field else {
            let per_field = free_text_fields(f)
                .into_iter()
                .map(|(field, boost)| {
                    let q: Box<dyn Query> =
                        Box::new(BoostQuery::new(self.text(field, &clause.value)?, boost));
                    Ok((Occur::Should, q))
                })
                .collect::<tantivy::Result<_>>()?;
            return Ok(Box::new(BooleanQuery::new(per_field)));
        };
        let text_field = match name {
            "name" => Some(f.name),
            "title" => Some(f.title),
            "company" => Some(f.company),
            "location" => Some(f.location),
            "email" => Some(f.email),
            _ => None,
        };
        if let Some(field) = text_field {
            return self.text(field, &clause.value);
        }
        match (name, &clause.value) {
            ("quality", Value::Range { from, to }) => Ok(u64_range(f.quality, *from, *to)),
            ("id", Value::Range { from: Some(a), to: Some(b) })
                if a == b
                    && let Some(&lead) = self.id_aliases.get(&(*a as LeadId)) =>
            {
                Ok(u64_range(f.id, Some(lead as i64), Some(lead as i64)))
            }
            ("id", Value::Range { from, to }) => Ok(u64_range(f.id, *from, *to)),
            ("created", Value::Range { from, to }) => Ok(i64_range(f.created, *from, *to)),
            (keyword, value) => self.keyword(self.keyword_field(keyword), keyword, value),
        }
    }

    fn keyword_field(&self, name: &str) -> Field {
        let f = self.fields;
        match name {
            "vendor" => f.vendor,
            "workflow" => f.workflow,
            "domain" => f.domain,
            "seniority" => f.seniority,
            "email_status" => f.email_status,
            "city" => f.city,
            "region" => f.region,
            "linkedin" => f.linkedin,
            "has" | "is" => f.has,
            _ => f.country,
        }
    }

    /// A clause on a full-text field.
    fn text(&self, field: Field, value: &Value) -> tantivy::Result<Box<dyn Query>> {
        let (words, slop) = match value {
            Value::Word(w) => (w.as_str(), 0),
            Value::Phrase { text, slop } => (text.as_str(), *slop),
            Value::Fuzzy { word, distance } => return self.each_token(field, word, |t| fuzzy(t, *distance)),
            Value::Prefix(stem) => return self.each_token(field, stem, prefix),
            Value::Range { .. } => return Ok(Box::new(EmptyQuery)),
        };
        let terms = self.tokens(field, words)?;
        Ok(match terms.len() {
            0 => Box::new(EmptyQuery),
            1 => Box::new(TermQuery::new(terms[0].clone(), IndexRecordOption::WithFreqs)),
            _ => {
                self.costly.set(true);
                let positioned = terms.into_iter().enumerate().collect();
                Box::new(PhraseQuery::new_with_offset_and_slop(positioned, slop))
            }
        })
    }

    /// A clause on an exact-value field.
    fn keyword(&self, field: Field, name: &str, value: &Value) -> tantivy::Result<Box<dyn Query>> {
        let raw = match value {
            Value::Word(w) | Value::Phrase { text: w, .. } => w,
            Value::Fuzzy { word, distance } => return self.each_token(field, word, |t| fuzzy(t, *distance)),
            Value::Prefix(stem) => return self.each_token(field, stem, prefix),
            Value::Range { .. } => return Ok(Box::new(EmptyQuery)),
        };
        let wanted = match name {
            "domain" => raw.trim_start_matches('@').trim_start_matches("www."),
            "linkedin" => linkedin_slug(raw),
            _ => raw.as_str(),
        };
        let terms = self.tokens(field, wanted)?;
        Ok(match terms.into_iter().next() {
            Some(term) => Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            None => Box::new(EmptyQuery),
        })
    }

    /// One query per analysed token, all required.
    fn each_token(
        &self,
        field: Field,
        text: &str,
        make: impl Fn(Term) -> Box<dyn Query>,
    ) -> tantivy::Result<Box<dyn Query>> {
        self.costly.set(true);
        let mut terms = self.tokens(field, text)?;
        Ok(match terms.len() {
            0 => Box::new(EmptyQuery),
            1 => make(terms.remove(0)),
            _ => Box::new(BooleanQuery::new(terms.into_iter().map(|t| (Occur::Must, make(t))).collect())),
        })
    }

    fn tokens(&self, field: Field, text: &str) -> tantivy::Result<Vec<Term>> {
        let mut analyzer = self.index.tokenizer_for_field(field)?;
        let mut stream = analyzer.token_stream(text);
        let mut terms = Vec::new();
        stream.process(&mut |token| terms.push(Term::from_field_text(field, &token.text)));
        Ok(terms)
    }
}

fn exclude(inner: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(vec![(Occur::Must, Box::new(AllQuery)), (Occur::MustNot, inner)]))
}

fn fuzzy(term: Term, distance: u8) -> Box<dyn Query> {
    Box::new(FuzzyTermQuery::new(term, distance, true))
}

fn prefix(term: Term) -> Box<dyn Query> {
    Box::new(FuzzyTermQuery::new_prefix(term, 0, false))
}

/// `https://www.linkedin.com/in/jane-doe/` and `jane-doe` both search the slug.
fn linkedin_slug(value: &str) -> &str {
    match value.split_once("/in/") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or(rest),
        None => value,
    }
}

fn u64_range(field: Field, from: Option<i64>, to: Option<i64>) -> Box<dyn Query> {
    let term = |v: i64| Term::from_field_u64(field, v.max(0) as u64);
    if to.is_some_and(|t| t < 0) {
        return Box::new(EmptyQuery);
    }
    Box::new(RangeQuery::new(bound(from.map(term)), bound(to.map(term))))
}

fn i64_range(field: Field, from: Option<i64>, to: Option<i64>) -> Box<dyn Query> {
    let term = |v: i64| Term::from_field_i64(field, v);
    Box::new(RangeQuery::new(bound(from.map(term)), bound(to.map(term))))
}

fn bound(term: Option<Term>) -> Bound<Term> {
    term.map_or(Bound::Unbounded, Bound::Included)
}
