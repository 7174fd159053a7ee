-- The leads of a leadsprint CSV export, with PostgreSQL full-text search over the
-- same fields leadsprint indexes (the 'simple' configuration: no stemming, as ours).
DROP TABLE IF EXISTS leads;
CREATE TABLE leads (
  id bigint PRIMARY KEY, first_name text, last_name text, full_name text, email text,
  email_status text, job_title text, seniority text, company_name text, company_domain text,
  company_industry text, company_size text, company_linkedin_url text, city text, region text,
  country text, phone text, linkedin_url text, profile_ids text, emails text, sources text,
  quality smallint, created_at bigint, updated_at bigint
);
\copy leads FROM 'leads.csv' WITH (FORMAT csv, HEADER true)
ALTER TABLE leads ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector('simple', coalesce(full_name, '')), 'A') ||
  setweight(to_tsvector('simple', coalesce(job_title, '')), 'B') ||
  setweight(to_tsvector('simple', coalesce(company_name, '') || ' ' || coalesce(company_domain, '') || ' ' ||
    coalesce(company_industry, '')), 'C') ||
  setweight(to_tsvector('simple', coalesce(city, '') || ' ' || coalesce(region, '') || ' ' || coalesce(country, '') ||
    ' ' || replace(coalesce(emails, ''), '|', ' ')), 'D')
) STORED;
CREATE INDEX leads_tsv ON leads USING gin (tsv);
CREATE INDEX leads_city ON leads (lower(city));
CREATE INDEX leads_email_domain ON leads (split_part(email, '@', 2));
CREATE INDEX leads_company_domain ON leads (company_domain);
CREATE INDEX leads_quality ON leads (quality);
VACUUM ANALYZE leads;
