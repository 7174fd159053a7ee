-- range+sort: has:email quality:>=80
SELECT count(*) FROM leads WHERE email IS NOT NULL AND quality >= 80;
SELECT id FROM leads WHERE email IS NOT NULL AND quality >= 80 ORDER BY quality DESC LIMIT 20;
