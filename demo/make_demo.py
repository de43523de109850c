"""Writes demo/demo.warc.wet from demo/texts.py: `python demo/make_demo.py demo/demo.warc.wet`."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from texts import TOPICS, SINGLE, BOILERPLATE
records = []
for topic, by_lang in TOPICS.items():
    for lang, text in by_lang.items():
        records.append((f"https://www.example.org/{lang}/{topic}", lang, text))
for lang, pages in SINGLE.items():
    for i, text in enumerate(pages):
        records.append((f"https://news.example.net/{lang}/{i}", lang, text))
out = bytearray()
info = b"software: parabeam demo\r\ndescription: demo input written for parabeam's README\r\n"
out += b"WARC/1.0\r\nWARC-Type: warcinfo\r\nWARC-Date: 2026-11-29T00:00:00Z\r\nWARC-Filename: demo.warc.wet\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000000>\r\nContent-Type: application/warc-fields\r\nContent-Length: %d\r\n\r\n" % len(info) + info + b"\r\n\r\n"
for n, (url, lang, text) in enumerate(records, 1):
    body = "\n".join([f"{url.split('/')[2]} — {url.rsplit('/', 1)[1].title()}", text, "2026-11-29 | 12:00 | 1 2 3 4 5", BOILERPLATE[lang]]).encode()
    out += (f"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: {url}\r\nWARC-Date: 2026-11-29T00:00:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{n:012d}>\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body + b"\r\n\r\n"
open(sys.argv[1], "wb").write(out)
print(len(records), "records")
