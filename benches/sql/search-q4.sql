-- phrase: "paid media"
SELECT count(*) FROM leads WHERE tsv @@ phraseto_tsquery('simple', 'paid media');
SELECT id FROM leads WHERE tsv @@ phraseto_tsquery('simple', 'paid media') ORDER BY ts_rank(tsv, phraseto_tsquery('simple', 'paid media')) DESC LIMIT 20;
