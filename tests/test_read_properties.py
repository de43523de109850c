"""Property tests: no input makes a reader raise, and damage to one record never costs the others."""
from __future__ import annotations

import gzip
import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parabeam.transforms.read import GZIP_MAGIC, Fault, Skipped, read_jsonl, read_text, read_warc
from faults.make_faults import members, warc_record

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of WARC and gzip syntax, so random inputs reach deep into the parser, not only its first check.
FRAGMENTS = st.sampled_from([
    b"WARC/1.0\r\n", b"WARC/1.", b"WARC-Type: conversion\r\n", b"WARC-Type: response\r\n",
    b"WARC-Target-URI: http://x/\r\n", b"Content-Length: 5\r\n", b"Content-Length: 99999\r\n",
    b"Content-Length: -1\r\n", b"\r\n", b"\n", b"\r\n\r\n", b"hello", b"\x00", b"\xff\xfe",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>hi</p>", b"\x1f\x8b\x08", b"{\"text\": \"x\"}\n",
])
NOISE = st.lists(FRAGMENTS | st.binary(max_size=30), max_size=30).map(b"".join)
LINE = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), min_size=1, max_size=60)
TEXT = (st.lists(LINE.filter(lambda s: s.strip() and not s.startswith("WARC/")), min_size=1, max_size=4)
        .map("\n".join))
DOCS = st.lists(TEXT, min_size=1, max_size=6)


def items(reader, data: bytes, path: str = "x") -> list:
    out = list(reader(path, io.BytesIO(data)))
    for item in out:
        assert isinstance(item, (dict, Fault, Skipped))
        if isinstance(item, dict):
            assert set(item) == {"url", "shard", "record", "text"} and item["text"].strip()
            item["text"].encode("utf-8")   # writable as UTF-8
    return out


def docs(out: list) -> list[tuple[str, str]]:
    return [(i["url"], i["text"]) for i in out if isinstance(i, dict)]


def wet_file(texts: list[str]) -> list[tuple[str, bytes]]:
    return [(f"https://p.example/{n}", warc_record(f"https://p.example/{n}", t.encode())) for n, t in enumerate(texts)]


@SETTINGS
@given(NOISE)
def test_warc_reader_survives_any_bytes(data):
    items(read_warc, data)


@SETTINGS
@given(NOISE, st.integers(min_value=0), NOISE)
def test_warc_reader_survives_damaged_gzip(data, cut, garbage):
    packed = gzip.compress(data)
    items(read_warc, packed[:cut % (len(packed) + 1)] + garbage + packed)


@SETTINGS
@given(DOCS, st.data())
def test_damage_inside_one_record_body_costs_only_that_record(texts, data):
    records = wet_file(texts)
    k = data.draw(st.integers(0, len(records) - 1), "damaged record")
    url, record = records[k]
    body_start = record.index(b"\r\n\r\n") + 4
    body_end = len(record) - 4
    at = data.draw(st.integers(body_start, body_end), "at")
    kind = data.draw(st.sampled_from(["insert", "delete", "replace"]), "kind")
    stuff = data.draw(st.binary(min_size=1, max_size=40).filter(lambda b: b"WARC/1." not in b), "bytes")
    end = min(body_end, at + len(stuff))
    damaged = {"insert": record[:at] + stuff + record[at:], "delete": record[:at] + record[end:],
               "replace": record[:at] + stuff[:end - at] + record[end:]}[kind]
    out = items(read_warc, b"".join(damaged if n == k else r for n, (_, r) in enumerate(records)))
    others = [(u, t) for n, ((u, _), t) in enumerate(zip(records, texts)) if n != k]
    assert [d for d in docs(out) if d[0] != url] == others
    assert sum(isinstance(i, Fault) for i in out) <= 1


@SETTINGS
@given(DOCS, st.data())
def test_damage_inside_one_gzip_member_spares_the_others(texts, data):
    records = wet_file(texts)
    packed = [gzip.compress(r, mtime=0) for _, r in records]
    k = data.draw(st.integers(0, len(packed) - 1), "damaged member")
    # A file is gzip when it starts with the magic bytes, so the first member's magic is left alone.
    at = data.draw(st.integers(3 if k == 0 else 0, len(packed[k])), "at")
    stuff = data.draw(st.binary(min_size=1, max_size=20).filter(lambda b: b"\x1f\x8b\x08" not in b), "bytes")
    packed[k] = packed[k][:at] + stuff + packed[k][at + data.draw(st.integers(0, 20), "deleted"):]
    out = items(read_warc, b"".join(packed), "x.wet.gz")
    found = docs(out)
    expected = [(u, t) for (u, _), t in zip(records, texts)]
    assert expected[:k] == found[:k]
    assert set(expected[k + 2:]) <= set(found)


@SETTINGS
@given(DOCS, st.integers(min_value=0))
def test_truncated_multi_member_gzip_keeps_every_whole_member(texts, cut):
    records = wet_file(texts)
    data = members(*(r for _, r in records))
    cut %= len(data) + 1
    out = items(read_warc, data[:cut], "x.wet.gz")
    ends = [len(members(*(r for _, r in records[:n + 1]))) for n in range(len(records))]
    whole = sum(end <= cut for end in ends)
    found = docs(out)
    expected = [(u, t) for (u, _), t in zip(records, texts)]
    # A cut inside a member's 8-byte trailer leaves its record whole, and then it is kept.
    assert found in (expected[:whole], expected[:whole + 1])
    into = cut - max([0] + ends[:whole])   # bytes into the member that was cut
    reasons = ([] if cut in ends else ["empty_file"] if cut == 0 else ["garbage_bytes"] if cut == 1
               else ["gzip_garbage"] if into < len(GZIP_MAGIC) else ["truncated_gzip"])
    assert [i.reason for i in out if isinstance(i, Fault)] == reasons


@SETTINGS
@given(st.text(max_size=300) | NOISE.map(lambda b: b.decode("utf-8", "replace")))
def test_jsonl_and_text_readers_survive_any_text(text):
    for reader in (read_jsonl, read_text):
        items(reader, text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(st.lists(st.fixed_dictionaries({"url": st.text(min_size=1, max_size=20), "text": TEXT}), max_size=8))
def test_jsonl_round_trip(rows):
    data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    assert docs(items(read_jsonl, data)) == [(row["url"], row["text"]) for row in rows]


@SETTINGS
@given(st.lists(TEXT, max_size=8), st.sampled_from(["\n\n", "\n \n\n", "\r\n\r\n"]))
def test_text_blocks_round_trip(blocks, separator):
    out = items(read_text, separator.join(b.replace("\n", "\r\n" if "\r" in separator else "\n")
                                          for b in blocks).encode(), "t.txt")
    expected = [b.replace("\n", "\r\n") if "\r" in separator else b for b in blocks]
    assert docs(out) == [(f"t.txt#{n}", b) for n, b in enumerate(expected)]
