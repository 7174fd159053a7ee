-- OR: director OR head
SELECT count(*) FROM leads WHERE tsv @@ to_tsquery('simple', 'director ;
SELECT id FROM leads WHERE tsv @@ to_tsquery('simple', 'director  ORDER BY  head')|ts_rank(tsv, to_tsquery('simple', 'director | head')) DESC LIMIT 20;
