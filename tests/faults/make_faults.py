"""Generate a corpus of damaged crawl files, and a clean copy of the records that must survive the damage.

Usage: python tests/faults/make_faults.py OUT_DIR   (prints what a reader should find, as JSON)

Everything is written from the small hand-made WET records below, so no binary fixture is checked in.
`make_fault_corpus(out_dir)` returns:
  patterns       the input patterns (all of faulty/, plus one file that does not exist)
  clean_patterns the clean copy: exactly the good records, undamaged
  urls           sorted urls of the good records (the documents a reader must produce from `patterns`)
  rejects        {reason: count} a reader must report from `patterns`
  skipped        how many records carry no text (warcinfo) in `patterns`
"""
from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

GOOD_TEXTS = {
    "en": "The river flows slowly through the old town.\nChildren play on its banks every summer evening.",
    "de": "Der Fluss fließt langsam durch die Altstadt.\nIm Sommer spielen Kinder jeden Abend am Ufer.",
    "fr": "La rivière traverse lentement la vieille ville.\nLes enfants jouent sur ses rives chaque soir d'été.",
    "es": "El río atraviesa despacio el casco antiguo.\nLos niños juegan en sus orillas cada tarde de verano.",
    "ru": "Река медленно течёт через старый город.\nКаждый летний вечер дети играют на её берегах.",
    "zh": "河水缓缓流过老城。\n每个夏天的傍晚，孩子们都在河岸上玩耍。",
    "ja": "川は旧市街をゆっくりと流れています。\n夏の夕方には子どもたちが川岸で遊びます。",
    "ar": "يتدفق النهر ببطء عبر المدينة القديمة.\nيلعب الأطفال على ضفافه كل مساء في الصيف.",
    "hi": "नदी पुराने शहर से धीरे-धीरे बहती है।\nहर गर्मी की शाम बच्चे इसके किनारे खेलते हैं।",
    "sw": "Mto unapita polepole katikati ya mji wa zamani.\nWatoto hucheza kwenye kingo zake kila jioni ya kiangazi.",
    "th": "แม่น้ำไหลผ่านเมืองเก่าอย่างช้าๆ\nเด็กๆ เล่นริมฝั่งทุกเย็นในฤดูร้อน",
    "ko": "강은 구시가지를 천천히 흐른다.\n여름 저녁마다 아이들이 강둑에서 논다.",
}
VICTIM_TEXT = "This record is damaged on purpose and must not reach the output.\n" * 3
TEN_MB_LINE = "a" * (10 * 1024 * 1024)


def warc_record(url: str, body: bytes, kind: str = "conversion", length: int | None = None) -> bytes:
    """One WET record; `length` overrides the true Content-Length to damage it."""
    target = f"WARC-Target-URI: {url}\r\n" if kind != "warcinfo" else ""
    head = (f"WARC/1.0\r\nWARC-Type: {kind}\r\n{target}WARC-Date: 2024-05-18T01:58:10Z\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body) if length is None else length}\r\n\r\n")
    return head.encode() + body + b"\r\n\r\n"


def good(lang: str, n: int = 0) -> tuple[str, bytes]:
    url = f"https://example.{lang}/river/{n}"
    return url, warc_record(url, GOOD_TEXTS[lang].encode())


def victim(name: str, body: bytes | None = None, length: int | None = None) -> bytes:
    return warc_record(f"https://damaged.example/{name}", VICTIM_TEXT.encode() if body is None else body,
                       length=length)


WARCINFO = warc_record("", b"software: parabeam fault corpus\r\n", kind="warcinfo")


def members(*records: bytes) -> bytes:
    """Multi-member gzip, one record per member, as Common Crawl writes it."""
    return b"".join(gzip.compress(record, mtime=0) for record in records)


def make_fault_corpus(out_dir: str | Path) -> dict:
    out = Path(out_dir)
    faulty, clean = out / "faulty", out / "clean"
    faulty.mkdir(parents=True, exist_ok=True)
    clean.mkdir(parents=True, exist_ok=True)
    urls: list[str] = []
    good_records: list[bytes] = []
    rejects: Counter = Counter()

    def take(lang: str) -> bytes:
        url, record = good(lang)
        urls.append(url)
        good_records.append(record)
        return record

    def write(name: str, data: bytes, *reasons: str) -> None:
        (faulty / name).write_bytes(data)
        rejects.update(reasons)

    # A gzip member cut in half: the members before it survive.
    cut = gzip.compress(victim("truncated"), mtime=0)
    write("truncated.warc.wet.gz", members(WARCINFO, take("en"), take("de")) + cut[:len(cut) // 2],
          "truncated_gzip")
    # Bytes that are no gzip member between two members.
    write("gzip_garbage.warc.wet.gz", members(take("fr")) + b"\x00garbage between members\xff" * 8
          + members(take("es")), "gzip_garbage")
    # Bytes between two records of a plain WET file.
    write("garbage.warc.wet", take("ru") + b"<<< not a WARC record >>>\r\n" * 4 + take("zh"), "garbage_bytes")
    # A Content-Length 60 bytes too long swallows the start of the next record, which must still be read.
    body = VICTIM_TEXT.encode()
    write("bad_length.warc.wet.gz", members(victim("bad-length", body, length=len(body) + 60), take("ja")),
          "bad_content_length")
    # Payload faults, each followed by a good record.
    write("payloads.warc.wet.gz", members(
        victim("invalid-utf8", "Река медленно течёт через старый город.".encode("cp1251")), take("ar"),
        victim("long-line", TEN_MB_LINE.encode()), take("hi"),
        victim("empty", b""), take("sw"),
        victim("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4), take("th"),
    ), "undecodable_text", "line_too_long", "empty_record", "binary_payload")
    write("empty.warc.wet.gz", b"", "empty_file")
    # JSONL with a broken line and a line without text between good ones.
    url, _ = good("ko")
    lines = [json.dumps({"url": url, "text": GOOD_TEXTS["ko"]}), '{"url": "https://damaged.example/json", "te',
             json.dumps({"url": "https://damaged.example/no-text", "text": None})]
    urls.append(url)
    good_records.append(warc_record(url, GOOD_TEXTS["ko"].encode()))
    write("lines.jsonl", "\n".join(lines).encode() + b"\n", "bad_json", "no_text")
    missing = faulty / "missing.warc.wet.gz"
    rejects["missing_file"] += 1

    (clean / "clean.warc.wet.gz").write_bytes(members(WARCINFO, *good_records))
    return {
        "patterns": [str(faulty / "*"), str(missing)],
        "clean_patterns": [str(clean / "*")],
        "urls": sorted(urls),
        "rejects": dict(rejects),
        "skipped": 1,
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(json.dumps(make_fault_corpus(sys.argv[1]), indent=2))
