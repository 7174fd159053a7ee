//! The search language, case by case.

use super::*;

const NOW: Millis = 1_796_000_000_000;

fn word(field: Option<&'static str>, w: &str) -> Node {
    Node::Clause(Clause { field, value: Value::Word(w.to_owned()) })
}

fn ok(input: &str) -> Node {
    match parse(input, NOW) {
        Ok(node) => node,
        Err(e) => panic!("{input:?} failed: {e}"),
    }
}

fn fails(input: &str) -> QueryError {
    match parse(input, NOW) {
        Ok(node) => panic!("{input:?} parsed as {node:?}"),
        Err(e) => e,
    }
}

#[test]
fn empty_and_star_match_everything() {
    assert_eq!(ok(""), Node::All);
    assert_eq!(ok("   "), Node::All);
    assert_eq!(ok("*"), Node::All);
}

#[test]
fn adjacent_terms_are_all_required() {
    let and = Node::And(vec![word(Some("title"), "ppc"), word(Some("city"), "chicago")]);
    assert_eq!(ok("title:ppc city:chicago"), and);
    assert_eq!(ok("title:ppc AND city:chicago"), and);
    assert_eq!(ok("title:ppc && city:chicago"), and);
}

#[test]
fn or_binds_looser_than_and() {
    let expected = Node::Or(vec![Node::And(vec![word(None, "a"), word(None, "b")]), word(None, "c")]);
    assert_eq!(ok("a b OR c"), expected);
    let grouped = Node::And(vec![word(None, "a"), Node::Or(vec![word(None, "b"), word(None, "c")])]);
    assert_eq!(ok("a (b OR c)"), grouped);
}

#[test]
fn lower_case_and_or_not_are_words() {
    assert_eq!(
        ok("research and development"),
        Node::And(vec![word(None, "research"), word(None, "and"), word(None, "development")])
    );
}

#[test]
fn negation_forms() {
    let not = |n| Node::Not(Box::new(n));
    assert_eq!(ok("NOT vendor:apollo"), not(word(Some("vendor"), "apollo")));
    assert_eq!(ok("-vendor:apollo"), not(word(Some("vendor"), "apollo")));
    assert_eq!(ok("ppc -agency"), Node::And(vec![word(None, "ppc"), not(word(None, "agency"))]));
    // A hyphen inside a word is part of it.
    assert_eq!(ok("e-commerce"), word(None, "e-commerce"));
    assert_eq!(ok("+ppc"), word(None, "ppc"));
}

#[test]
fn fields_aliases_and_case() {
    assert_eq!(ok("Title:PPC"), word(Some("title"), "PPC"));
    assert_eq!(ok("job_title:ppc"), word(Some("title"), "ppc"));
    assert_eq!(ok("state:IL"), word(Some("region"), "IL"));
    assert_eq!(ok("source:apollo"), word(Some("vendor"), "apollo"));
    assert_eq!(ok("title: ppc"), word(Some("title"), "ppc"));
}

#[test]
fn phrases_fuzzy_and_prefix() {
    let phrase =
        |t: &str, slop| Node::Clause(Clause { field: None, value: Value::Phrase { text: t.into(), slop } });
    assert_eq!(ok("\"vp marketing\""), phrase("vp marketing", 0));
    assert_eq!(ok("\"vp marketing\"~2"), phrase("vp marketing", 2));
    // A quoted keyword value is one exact value.
    assert_eq!(ok("city:\"new york\""), word(Some("city"), "new york"));
    let fuzzy =
        Node::Clause(Clause { field: None, value: Value::Fuzzy { word: "markting".into(), distance: 1 } });
    assert_eq!(ok("markting~1"), fuzzy);
    let prefix = Node::Clause(Clause { field: Some("title"), value: Value::Prefix("market".into()) });
    assert_eq!(ok("title:market*"), prefix);
}

#[test]
fn urls_are_words_not_fields() {
    assert_eq!(ok("https://www.linkedin.com/in/jane"), word(None, "https://www.linkedin.com/in/jane"));
    assert_eq!(
        ok("linkedin:https://www.linkedin.com/in/jane"),
        word(Some("linkedin"), "https://www.linkedin.com/in/jane")
    );
}

#[test]
fn number_ranges() {
    let range = |from, to| Node::Clause(Clause { field: Some("quality"), value: Value::Range { from, to } });
    assert_eq!(ok("quality:>=80"), range(Some(80), None));
    assert_eq!(ok("quality:>80"), range(Some(81), None));
    assert_eq!(ok("quality:<40"), range(None, Some(39)));
    assert_eq!(ok("quality:<=40"), range(None, Some(40)));
    assert_eq!(ok("quality:40..60"), range(Some(40), Some(60)));
    assert_eq!(ok("score:100"), range(Some(100), Some(100)));
}

#[test]
fn date_ranges_cover_whole_days_and_ages() {
    let day = 1_793_491_200_000; // 2026-11-01T00:00:00Z
    let range = |from, to| Node::Clause(Clause { field: Some("created"), value: Value::Range { from, to } });
    assert_eq!(ok("created:>2026-11-01"), range(Some(day + 86_400_000), None));
    assert_eq!(ok("created:>=2026-11-01"), range(Some(day), None));
    assert_eq!(ok("created:<2026-11-01"), range(None, Some(day - 1)));
    assert_eq!(ok("created:2026-11-01"), range(Some(day), Some(day + 86_399_999)));
    assert_eq!(ok("created:>=2026-11-01T09:30"), range(Some(day + 9 * 3_600_000 + 30 * 60_000), None));
    assert_eq!(ok("created:>2h"), range(Some(NOW - 2 * 3_600_000 + 1), None));
}

#[test]
fn has_values() {
    assert_eq!(ok("has:email"), word(Some("has"), "email"));
    assert_eq!(ok("has:LinkedIn"), word(Some("has"), "linkedin"));
    assert!(fails("has:fax").message.contains("email, linkedin"));
}

/// Every malformed query names its problem and where it is.
#[test]
fn syntax_errors_are_clear() {
    let cases: &[(&str, usize, &str)] = &[
        ("title:\"vp marketing", 7, "never closed"),
        ("(ppc OR sem", 1, "never closed"),
        ("ppc)", 4, "without a matching"),
        ("titel:ppc", 1, "did you mean 'title'"),
        ("foo:bar", 1, "unknown field 'foo'"),
        ("title:", 1, "needs a value"),
        ("ppc AND", 8, "ends where a search term"),
        ("OR ppc", 1, "AND/OR needs a search term"),
        ("()", 1, "empty parentheses"),
        ("quality:>high", 9, "whole number"),
        ("created:>yesterday", 9, "a date"),
        ("created:2026-13-01", 9, "a date"),
        ("markting~7", 1, "edit distance"),
        ("title:>5", 7, "ranges work on"),
        ("city:\"a\"~2", 6, "does not take a quoted phrase"),
    ];
    for (input, column, needle) in cases {
        let e = fails(input);
        assert!(e.message.contains(needle), "{input:?}: {e}");
        assert_eq!(e.column, *column, "{input:?}: {e}");
    }
}

#[test]
fn hostile_input_is_refused_not_panicked() {
    let long = "a ".repeat(60_000);
    assert!(fails(&long).message.contains("limit is 8192"));
    assert!(fails("ppc\u{7}bell").message.contains("U+0007"));
    assert!(fails(&"x ".repeat(300)).message.contains("more than 256"));
    assert!(fails(&format!("{}x{}", "(".repeat(40), ")".repeat(40))).message.contains("deeper than"));
    // Unbalanced and stray punctuation in every position.
    for input in ["\"", "(", ")", "\"\"~", "a~", "~", ":", "title::", "-", "NOT", "((a)", "a))", "\"a\"~x"] {
        let _ = parse(input, NOW);
    }
}

proptest::proptest! {
    /// No input makes the parser panic.
    #[test]
    fn never_panics(input in "\\PC{0,80}") {
        let _ = parse(&input, NOW);
    }

    #[test]
    fn never_panics_on_query_alphabet(input in "[a-z:()\"~*<>=.\\- ]{0,40}|(AND|OR|NOT| |title:|x|\\(|\\)|\"){0,20}") {
        let _ = parse(&input, NOW);
    }
}
