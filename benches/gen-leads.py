#!/usr/bin/env python3
"""Writes a deterministic CSV of N lead records, DUP_RATE of them duplicates of
earlier people under URL / email / ID variants, for the import benchmark.

usage: benches/gen-leads.py ROWS DUP_RATE OUT.csv   (e.g. 1000000 0.3 /tmp/leads-1m.csv)
"""
import csv
import random
import sys

rows, dup_rate, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
rng = random.Random(42)
FIRST = ["Dana", "Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Priya", "Wei"]
LAST = ["Wills", "Nguyen", "Garcia", "Smith", "Johnson", "Patel", "Kim", "Lopez", "Brown", "Davis", "Miller"]
TITLES = ["Performance Marketing Manager", "Paid Media Manager", "Digital Marketing Manager", "PPC Manager",
          "Marketing Operations Manager", "Head of Paid Social", "Director of Performance Marketing"]
CITIES = [("New York", "NY"), ("San Francisco", "CA"), ("Los Angeles", "CA"), ("Chicago", "IL"), ("Boston", "MA")]
INDUSTRIES = ["Retail", "Software", "Financial Services", "Health Care", "Media", ""]

unique = int(rows * (1 - dup_rate))
with open(out, "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["First Name", "Last Name", "Title", "Company", "Email", "Person Linkedin Url", "Website",
                "Industry", "City", "State", "Country", "Apollo Contact Id"])

    def person(i):
        r = random.Random(i)
        f, l = r.choice(FIRST), r.choice(LAST)
        company = f"company{i % 50000}"
        return f, l, f"{f.lower()}-{l.lower()}-{i}", f"{f.lower()}.{l.lower()}{i}@{company}.com", company, r

    for n in range(rows):
        if n < unique:
            i, variant = n, None
        else:
            i, variant = rng.randrange(unique), rng.choice(["url", "email", "id"])
        f, l, slug, email, company, r = person(i)
        url = f"https://www.linkedin.com/in/{slug}"
        has_email = r.random() < 0.7
        ident = f"{i:024x}"
        if variant == "url":
            url, email, ident = f"http://uk.linkedin.com/in/{slug.upper()}/?trk=x", "", ""
        elif variant == "email":
            url, email, ident = "", email.upper() if has_email else "", "" if has_email else ident
        elif variant == "id":
            url, email = "", ""
        elif not has_email:
            email = ""
        city = r.choice(CITIES)
        w.writerow([f, l, r.choice(TITLES), company.title(), email, url, f"https://{company}.com",
                    r.choice(INDUSTRIES), city[0], city[1], "United States", ident])
