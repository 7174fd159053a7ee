-- AND: title:manager AND city:chicago
SELECT count(*) FROM leads WHERE tsv @@ to_tsquery('simple', 'manager:B') AND lower(city) = 'chicago';
SELECT id FROM leads WHERE tsv @@ to_tsquery('simple', 'manager:B') AND lower(city) = 'chicago' ORDER BY ts_rank(tsv, to_tsquery('simple', 'manager:B')) DESC LIMIT 20;
