"""Readers on every format, on real Common Crawl data, and ReadDocuments over a corpus of damaged files."""
from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from fastwarc.warc import ArchiveIterator, WarcRecordType

from parabeam.transforms import read
from parabeam.transforms.read import Fault, ReadDocuments, Skipped, read_records
from tests.helpers import counted
from faults.make_faults import GOOD_TEXTS, make_fault_corpus, members, warc_record

WEB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "web"
EXCERPT = WEB / "CC-MAIN-2017-30_excerpt.warc.wet.gz"


def web_file(name: str) -> Path:
    path = WEB / name
    if not path.exists():
        pytest.skip(f"{path} is not there")
    return path


def run(data: bytes, path: str = "x.warc.wet") -> list:
    return list(read_records(path, io.BytesIO(data)))


def summary(items: list) -> tuple[list[str], Counter, int]:
    """(document urls, fault reasons, skipped count)."""
    return ([i["url"] for i in items if isinstance(i, dict)],
            Counter(i.reason for i in items if isinstance(i, Fault)),
            sum(isinstance(i, Skipped) for i in items))


def wet(url: str, text: str, **kwargs) -> bytes:
    return warc_record(url, text.encode(), **kwargs)


def http_response(url: str, payload: bytes, headers: str = "Content-Type: text/html; charset=utf-8") -> bytes:
    block = f"HTTP/1.1 200 OK\r\n{headers}\r\n\r\n".encode() + payload
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {url}\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n")
    return head.encode() + block + b"\r\n\r\n"


A, B, C = (wet(f"https://a.example/{n}", GOOD_TEXTS[lang]) for n, lang in enumerate(["en", "ru", "zh"]))


# --- real data -------------------------------------------------------------------------------------

def test_real_wet_excerpt_matches_fastwarc():
    path = web_file(EXCERPT.name)
    with open(path, "rb") as f:
        items = list(read.read_warc(str(path), f))
    with open(path, "rb") as f:
        expected = [(r.headers["WARC-Target-URI"], r.reader.read().decode("utf-8", "replace"))
                    for r in ArchiveIterator(f, record_types=WarcRecordType.conversion)]
    docs = [i for i in items if isinstance(i, dict)]
    assert summary(items)[1:] == (Counter(), 1)
    assert len(docs) == 170
    assert [(d["url"], d["text"]) for d in docs] == expected
    assert [d["record"] for d in docs] == list(range(1, 171))
    assert {d["shard"] for d in docs} == {str(path)}


def test_whirlwind_fixture():
    path = web_file("whirlwind.warc.wet")
    with open(path, "rb") as f:
        items = list(read.read_warc(str(path), f))
    assert items[0] == Skipped("warcinfo", 0)
    assert len(items) == 2
    assert items[1]["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert items[1]["text"].startswith("Escopete - Biquipedia, a enciclopedia libre\n")
    assert len(items[1]["text"].encode()) == 4456


def test_cc_net_fixture_declares_characters_not_bytes():
    """Every Content-Length in this synthetic sample is wrong (characters, not bytes, and off by a few),
    so a strict reader, like fastwarc, refuses each record; it must still walk all four of them."""
    path = web_file("cc_net_sample.warc.wet.txt")
    with open(path, "rb") as f:
        items = list(read.read_warc(str(path), f))
    assert [(i.reason, i.record) for i in items] == [("bad_content_length", n) for n in range(4)]
    assert [i.url for i in items] == ["", "http://sample_english.com", "http://sample_chinese.zh",
                                      "http://sample_russian.ru"]
    assert items[3].excerpt.startswith("Цитаты знаменитого Марка Твена")


# --- WARC framing and resynchronisation ------------------------------------------------------------

def test_wet_records_plain_and_gzip_give_the_same_documents():
    data = A + B + C
    plain = run(data)
    assert [d["text"] for d in plain] == [GOOD_TEXTS[lang] for lang in ("en", "ru", "zh")]
    assert [d["record"] for d in plain] == [0, 1, 2]
    assert run(members(A, B, C), "x.warc.wet.gz") == [dict(d, shard="x.warc.wet.gz") for d in plain]
    assert run(gzip.compress(data), "x.warc.wet") == plain   # gzip found by its magic bytes, not its name
    assert run(data, "x.warc.wet.gz") == [dict(d, shard="x.warc.wet.gz") for d in plain]


def test_lf_only_framing_is_accepted():
    record = b"WARC/1.0\nWARC-Type: conversion\nWARC-Target-URI: u\nContent-Length: 5\n\nhello\n\n"
    assert [d["text"] for d in run(record * 2)] == ["hello", "hello"]


def test_metadata_records_are_skipped_not_faults():
    items = run(wet("", "x", kind="warcinfo") + wet("u", "GET /", kind="request") + A
                + wet("u", "fetchTimeMs: 3", kind="metadata"))
    assert summary(items) == (["https://a.example/0"], Counter(), 3)
    assert [i.kind for i in items if isinstance(i, Skipped)] == ["warcinfo", "request", "metadata"]


def test_garbage_between_records_is_one_fault_and_both_records_survive():
    items = run(A + b"\x00\x01 some junk\nmore junk WARC/1.0 not at a line start\n" + B)
    assert summary(items) == (["https://a.example/0", "https://a.example/1"], Counter(garbage_bytes=1), 0)
    fault = next(i for i in items if isinstance(i, Fault))
    assert fault.record == 1 and fault.excerpt.startswith("\ufffd\ufffd some junk")


@pytest.mark.parametrize("length,reason", [
    ("", "bad_content_length"), ("12x", "bad_content_length"), ("-5", "bad_content_length"),
    ("10", "bad_content_length"), ("400", "bad_content_length"), (str(read.MAX_RECORD_BYTES + 1), "record_too_large"),
])
def test_bad_content_length_loses_only_its_record(length, reason):
    damaged = wet("https://bad.example", GOOD_TEXTS["de"]).replace(
        f"Content-Length: {len(GOOD_TEXTS['de'].encode())}".encode(), f"Content-Length: {length}".encode())
    items = run(A + damaged + B + C)
    assert summary(items) == (["https://a.example/0", "https://a.example/1", "https://a.example/2"],
                              Counter({reason: 1}), 0)
    assert [i.url for i in items if isinstance(i, Fault)] == ["https://bad.example"]


def test_length_running_past_the_end_recovers_the_swallowed_records():
    damaged = wet("https://bad.example", "short", length=10_000)
    items = run(A + damaged + B + C)
    assert summary(items) == (["https://a.example/0", "https://a.example/1", "https://a.example/2"],
                              Counter(truncated_record=1), 0)


def test_truncated_record_at_end_of_plain_file():
    items = run(A + B[:len(B) // 2])
    assert summary(items) == (["https://a.example/0"], Counter(truncated_record=1), 0)
    items = run(A + B[:20])   # cut inside the header
    assert summary(items) == (["https://a.example/0"], Counter(truncated_record=1), 0)


def test_damaged_header_resyncs():
    damaged = b"WARC/1.0\r\nWARC-Type conversion without a colon\r\nContent-Length: 3\r\n\r\nabc\r\n\r\n"
    assert summary(run(A + damaged + B)) == (["https://a.example/0", "https://a.example/1"],
                                             Counter(bad_header=1), 0)


# --- gzip ------------------------------------------------------------------------------------------

def test_truncated_gzip_keeps_what_was_decoded_and_reports_once():
    data = members(A, B, C)
    cut = data[:len(members(A, B)) + 40]
    items = run(cut, "x.wet.gz")
    assert summary(items) == (["https://a.example/0", "https://a.example/1"], Counter(truncated_gzip=1), 0)
    assert next(i for i in items if isinstance(i, Fault)).record == 2


def test_truncated_single_member_gzip_keeps_whole_records():
    expected = [f"https://t.example/{lang}" for lang in GOOD_TEXTS]
    data = gzip.compress(b"".join(wet(url, GOOD_TEXTS[url[-2:]]) for url in expected))
    urls, faults, _ = summary(run(data[:len(data) // 2], "x.wet.gz"))
    assert faults == Counter(truncated_gzip=1)
    assert 3 <= len(urls) < len(expected) and urls == expected[:len(urls)]


@pytest.mark.parametrize("path,data", [("x.wet.gz", A), ("x.jsonl.gz", b'{"url": "u", "text": "t"}\n'),
                                       ("x.txt.gz", b"text\n")])
def test_gzip_cut_in_its_trailer_keeps_the_record_and_reports_the_cut(path, data):
    items = run(gzip.compress(data)[:-4], path)
    assert len(summary(items)[0]) == 1
    assert items[-1] == Fault("truncated_gzip", 1, "gzip stream ends inside a member")


def test_garbage_between_gzip_members():
    items = run(members(A) + b"NOT GZIP \x1f\x8b but no magic" + members(B), "x.wet.gz")
    assert summary(items) == (["https://a.example/0", "https://a.example/1"], Counter(gzip_garbage=1), 0)


BIG = wet("https://a.example/big", " ".join(f"Fluss{n * 7919 % 100_003}" for n in range(60_000)))


@pytest.mark.parametrize("where", [0.01, 0.5, 0.999])
def test_corrupt_gzip_member_loses_only_its_record(where):
    """Damage inside a member that spans many read chunks: its record is reported once, as corrupt_gzip,
    and the record in the next member (whose WARC line the damage left mid-line) is still found."""
    middle = bytearray(gzip.compress(BIG, mtime=0))
    assert len(middle) > 2 * read.CHUNK_BYTES
    at = int(len(middle) * where)
    middle[at:at + 10] = b"\xff" * 10
    items = run(members(A) + bytes(middle) + members(C), "x.wet.gz")
    assert summary(items) == (["https://a.example/0", "https://a.example/2"], Counter(corrupt_gzip=1), 0)
    assert [i.record for i in items if isinstance(i, Fault)] == [1]


def test_damaged_gzip_header_does_not_swallow_the_next_members():
    first = gzip.compress(A, mtime=0)
    damaged = first[:3] + b"\x04" + first[3:]   # flags now announce an extra field whose length eats the rest
    items = run(damaged + members(B, C), "x.wet.gz")
    assert summary(items) == (["https://a.example/1", "https://a.example/2"], Counter(corrupt_gzip=1), 0)


def test_huge_record_is_streamed_not_buffered():
    """A 100 MB record in a 100 kB gzip member: refused by its declared size and skipped in bounded pieces."""
    bomb = gzip.compress(warc_record("https://bomb.example", b"\x00" * (100 << 20)), compresslevel=1)
    tracemalloc.start()
    items = run(bomb + members(A), "x.wet.gz")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert summary(items) == (["https://a.example/0"], Counter(record_too_large=1), 0)
    assert peak < 16 << 20


# --- payloads --------------------------------------------------------------------------------------

@pytest.mark.parametrize("body,reason", [
    (b"", "empty_record"),
    (b" \n\t\n", "empty_record"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary_payload"),
    (bytes([1, 2, 3, 4, 5, 6, 7, 8]) * 10 + b"some text", "binary_payload"),
    ("Река медленно течёт через старый город".encode("cp1251"), "undecodable_text"),
    (b"x" * (read.MAX_LINE_BYTES + 1), "line_too_long"),
])
def test_payload_faults(body, reason):
    items = run(warc_record("https://f.example", body) + A)
    assert summary(items) == (["https://a.example/0"], Counter({reason: 1}), 0)
    assert items[0].url == "https://f.example"


def test_a_little_invalid_utf8_is_replaced_not_refused():
    text = "Der Fluss fließt langsam durch die Altstadt, im Sommer spielen Kinder"
    items = run(warc_record("u", text.encode().replace("ß".encode(), b"\xdf")))
    assert items[0]["text"] == text.replace("ß", "\ufffd")


def test_zero_byte_file():
    for path in ("x.warc.wet.gz", "x.jsonl", "x.txt", "x.parquet"):
        assert run(b"", path) == [Fault("empty_file", 0)]


def test_html_response_records_are_extracted():
    html = "<html><head><title>T</title><script>var x=1;</script></head><body><p>Die Straße ist lang.</p></body></html>"
    items = run(http_response("https://h.example", html.encode())
                + http_response("https://h.example/img", b"\x89PNG", "Content-Type: image/png")
                + http_response("https://h.example/latin", html.encode("latin-1"),
                                "Content-Type: text/html; charset=ISO-8859-1")
                + http_response("https://h.example/bogus", html.encode(), "Content-Type: text/html; charset=bogus")
                + http_response("https://h.example/gz", gzip.compress(html.encode()),
                                "Content-Type: text/html\r\nContent-Encoding: gzip")
                + http_response("https://h.example/chunked", b"a\r\n<p>Hallo W\r\n7\r\nelt.</p>\r\n0\r\n\r\n",
                                "Content-Type: text/html\r\nTransfer-Encoding: chunked"), "x.warc")
    docs = [i for i in items if isinstance(i, dict)]
    assert [d["url"] for d in docs] == ["https://h.example", "https://h.example/latin", "https://h.example/bogus",
                                        "https://h.example/gz", "https://h.example/chunked"]
    assert all("Die Straße ist lang." in d["text"] and "var x" not in d["text"] for d in docs[:4])
    assert docs[4]["text"] == "Hallo Welt."
    assert items[1] == Skipped("response", 1)


def test_bad_http_payload_is_a_fault():
    items = run(http_response("https://h.example", b"zz\r\nnot hex", "Content-Type: text/html\r\n"
                              "Transfer-Encoding: chunked")
                + warc_record("https://h.example/2", b"no http head", kind="response"))
    assert summary(items) == ([], Counter(bad_http=2), 0)


# --- JSONL, text, Parquet --------------------------------------------------------------------------

def test_jsonl():
    lines = [json.dumps({"url": "https://j.example/0", "text": "Bonjour le monde."}), "",
             '{"url": "broken', "[1, 2]", json.dumps({"url": "u", "text": 7}),
             json.dumps({"text": "Sans adresse."}), json.dumps({"url": "u", "text": "\ud800 lone surrogate"}),
             json.dumps({"url": "u", "text": "\x00\x01"})]
    items = run("\n".join(lines).encode(), "dir/x.jsonl")
    assert summary(items) == (["https://j.example/0", "dir/x.jsonl#5", "u"],
                              Counter(bad_json=2, no_text=1, binary_payload=1), 0)
    assert [i["record"] if isinstance(i, dict) else i.record for i in items] == [0, 2, 3, 4, 5, 6, 7]
    assert items[5]["text"] == "? lone surrogate"
    assert summary(run(gzip.compress("\n".join(lines).encode()), "dir/x.json.gz")) == (
        ["https://j.example/0", "dir/x.json.gz#5", "u"], Counter(bad_json=2, no_text=1, binary_payload=1), 0)


def test_jsonl_overlong_line_is_skipped_without_losing_the_next():
    data = (json.dumps({"url": "a", "text": "x" * (2 * read.MAX_LINE_BYTES)}) + "\n"
            + json.dumps({"url": "b", "text": "ok"}) + "\n").encode()
    assert summary(run(data, "x.jsonl")) == (["b"], Counter(line_too_long=1), 0)


def test_jsonl_truncated_gzip_reports_the_cut_line_once():
    data = gzip.compress(b"".join(json.dumps({"url": str(n), "text": "t" * 50}).encode() + b"\n" for n in range(9)))
    urls, faults, _ = summary(run(data[:-30], "x.jsonl.gz"))
    assert faults == Counter(truncated_gzip=1) and urls == [str(n) for n in range(len(urls))]


def test_text_blocks():
    data = b"first block\nline two\n\n\n  \nsecond\r\n\r\nthird\n" + b"y" * (read.MAX_LINE_BYTES + 5) + b"\n\nlast"
    items = run(data, "notes.txt")
    assert [(i["url"], i["text"]) for i in items if isinstance(i, dict)] == [
        ("notes.txt#0", "first block\nline two"), ("notes.txt#1", "second"), ("notes.txt#3", "last")]
    assert items[2] == Fault("line_too_long", 2, "third\n", "notes.txt#2")


def test_parquet(tmp_path):
    table = pa.table({"url": ["https://p.example/0", None, "https://p.example/2"],
                      "text": ["Hola mundo.", "Sin dirección.", None], "extra": [1, 2, 3]})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=2)
    with open(tmp_path / "a.parquet", "rb") as f:
        items = read_records(str(tmp_path / "a.parquet"), f)
        assert [i["url"] if isinstance(i, dict) else i.reason for i in items] == [
            "https://p.example/0", f"{tmp_path / 'a.parquet'}#1", "no_text"]
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "b.parquet")
    with open(tmp_path / "b.parquet", "rb") as f:
        assert [i.reason for i in read_records("b.parquet", f)] == ["bad_parquet"]
    assert [i.reason for i in run(b"PAR1 not really", "c.parquet")] == ["bad_parquet"]


# --- Beam ------------------------------------------------------------------------------------------

def reject_counts(rejects):
    return (rejects
            | beam.Map(lambda r: (r.reason, r.shard != "" and r.stage == "read"))
            | beam.combiners.Count.PerElement())


def test_read_documents_over_fault_corpus(tmp_path):
    corpus = make_fault_corpus(tmp_path)
    with TestPipeline(runner="FnApiRunner") as p:
        docs, rejects, counts = p | ReadDocuments(corpus["patterns"])
        expected = [(url, GOOD_TEXTS[url.split("/")[2].removeprefix("example.")]) for url in corpus["urls"]]
        assert_that(docs | beam.Map(lambda d: (d["url"], d["text"])), equal_to(expected), label="documents")
        assert_that(reject_counts(rejects), equal_to([((reason, True), n) for reason, n in corpus["rejects"].items()]),
                    label="rejects")
        files = rejects | "Shards" >> beam.Map(lambda r: (r.reason, Path(r.shard).name))
        assert_that(files | beam.Filter(lambda r: r[0] in ("missing_file", "truncated_gzip", "bad_content_length")),
                    equal_to([("missing_file", "missing.warc.wet.gz"), ("truncated_gzip", "truncated.warc.wet.gz"),
                              ("bad_content_length", "bad_length.warc.wet.gz")]), label="shards")
        assert_that(counted(counts), equal_to(
            [("read/in", len(corpus["urls"]) + sum(corpus["rejects"].values()) + corpus["skipped"]),
             ("read/out", len(corpus["urls"])), ("read/skipped:warcinfo", corpus["skipped"])]
            + [(f"read/reject:{reason}", n) for reason, n in corpus["rejects"].items()]), label="counts")


def test_clean_corpus_gives_the_same_documents(tmp_path):
    corpus = make_fault_corpus(tmp_path)
    with TestPipeline(runner="FnApiRunner") as p:
        docs, rejects, counts = p | ReadDocuments(corpus["clean_patterns"])
        assert_that(docs | beam.Map(lambda d: d["url"]), equal_to(corpus["urls"]), label="urls")
        assert_that(rejects, equal_to([]), label="rejects")


def test_unreadable_path_is_a_read_error(tmp_path):
    (tmp_path / "dir.warc.wet").mkdir()
    with TestPipeline(runner="FnApiRunner") as p:
        docs, rejects, counts = p | ReadDocuments([str(tmp_path / "dir.warc.wet")])
        assert_that(docs, equal_to([]), label="docs")
        assert_that(rejects | beam.Map(lambda r: (r.reason, r.excerpt.split(":")[0])),
                    equal_to([("read_error", "IsADirectoryError")]), label="rejects")
