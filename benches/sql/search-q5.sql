-- OR: director OR head
SELECT count(*) FROM leads WHERE tsv @@ to_tsquery('simple', 'director | head');
SELECT id FROM leads WHERE tsv @@ to_tsquery('simple', 'director | head') ORDER BY ts_rank(tsv, to_tsquery('simple', 'director | head')) DESC LIMIT 20;
