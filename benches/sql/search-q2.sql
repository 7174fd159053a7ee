-- field term: title:ppc
SELECT count(*) FROM leads WHERE tsv @@ to_tsquery('simple', 'ppc:B');
SELECT id FROM leads WHERE tsv @@ to_tsquery('simple', 'ppc:B') ORDER BY ts_rank(tsv, to_tsquery('simple', 'ppc:B')) DESC LIMIT 20;
