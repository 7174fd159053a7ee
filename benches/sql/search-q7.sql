-- AND 3 terms: performance marketing manager
SELECT count(*) FROM leads WHERE tsv @@ to_tsquery('simple', 'performance & marketing & manager');
SELECT id FROM leads WHERE tsv @@ to_tsquery('simple', 'performance & marketing & manager') ORDER BY ts_rank(tsv, to_tsquery('simple', 'performance & marketing & manager')) DESC LIMIT 20;
