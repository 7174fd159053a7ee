#!/usr/bin/env python3
"""Writes the bridge-heavy benchmark input: PEOPLE people, each first seen as two
separate leads (one record with only a LinkedIn URL, one with only an email), then
one bridging record per person carrying both keys, which merges the two leads.

usage: benches/gen-bridges.py PEOPLE BASE.csv BRIDGES.csv
"""
import csv
import random
import sys

people, base_out, bridges_out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
HEADER = ["First Name", "Last Name", "Title", "Company", "Email", "Person Linkedin Url", "Website", "City"]


def keys(i):
    return f"https://www.linkedin.com/in/bridge-person-{i}", f"bridge.person{i}@company{i % 5000}.com"


with open(base_out, "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(HEADER)
    for i in range(people):
        url, email = keys(i)
        w.writerow([f"P{i}", "Bridge", "PPC Manager", "", "", url, "", "Chicago"])
        w.writerow(["", "", "", f"Company {i % 5000}", email, "", f"company{i % 5000}.com", ""])

order = list(range(people))
random.Random(7).shuffle(order)
with open(bridges_out, "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(HEADER)
    for i in order:
        url, email = keys(i)
        w.writerow([f"P{i}", "Bridge", "", "", email, url, "", ""])
