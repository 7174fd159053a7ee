-- domain: domain:company123.com
SELECT count(*) FROM leads WHERE (split_part(email, '@', 2) = 'company123.com' OR company_domain = 'company123.com');
SELECT id FROM leads WHERE (split_part(email, '@', 2) = 'company123.com' OR company_domain = 'company123.com') ORDER BY id LIMIT 20;
