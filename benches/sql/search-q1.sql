-- term: marketing
SELECT count(*) FROM leads WHERE tsv @@ to_tsquery('simple', 'marketing');
SELECT id FROM leads WHERE tsv @@ to_tsquery('simple', 'marketing') ORDER BY ts_rank(tsv, to_tsquery('simple', 'marketing')) DESC LIMIT 20;
