"""Read crawl documents (WARC/WET, JSONL, Parquet, plain text) without ever letting a damaged file stop the job.

The pure readers are generators over a binary file object: each yields document dicts (schemas.DOCUMENTS),
`Fault`s (a record that could not be read, and why) and `Skipped` records (WARC records that carry no text,
such as warcinfo). They read in bounded chunks, decompress (multi-member) gzip themselves, and after damage
resynchronise on the next gzip member or the next `WARC/1.` line, so the records after the damage survive.
`ReadDocuments` runs them over file patterns in Beam and turns faults into reject rows of stage "read".

Record numbers are 0-based per file: WARC records (of every type), JSONL lines, text blocks, Parquet rows.
Faults found between records (garbage, gzip damage) carry the number of the record that follows them.
"""
from __future__ import annotations

import functools
import itertools
import json
import re
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Generator, Iterable, Iterator, Union

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding, map_encoding_to_html5

from parabeam.transforms import stages
from parabeam.transforms.accounting import EXCERPT_CHARS, StageFn, Staged, apply_stage, merge_staged

STAGE = stages.READ.name
MAX_LINE_BYTES = 1 << 20          # a longer line is a `line_too_long` fault; never buffered beyond this
MAX_RECORD_BYTES = 64 << 20       # a WARC record or text block larger than this is `record_too_large`
MAX_HEADER_BYTES = 64 << 10
MAX_BAD_CHAR_RATIO = 0.10         # replacement characters / control bytes above this: undecodable / binary
CHUNK_BYTES = 1 << 16
GZIP_OUT_BYTES = 1 << 18          # bounded output per inflate call, so a gzip bomb cannot fill memory
GZIP_RESCAN_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_MAGIC = b"WARC/1."
_BLANK_LINE = re.compile(rb"\n\r?\n")
WARC_EXTENSIONS = (".warc", ".wet")
JSONL_EXTENSIONS = (".jsonl", ".json")
HTML_TYPES = ("text/html", "application/xhtml+xml")
_CONTROL_BYTES = bytes([*range(9), 11, *range(14, 32), 127])   # control characters that text does not use
_EXCERPT_TABLE = {c: "\ufffd" for c in [*range(9), 11, 12, *range(14, 32), 127]}


@dataclass(frozen=True)
class Fault:
    """A record (or a stretch of bytes) that could not be read; becomes one reject row."""
    reason: str
    record: int
    excerpt: str = ""
    url: str = ""


@dataclass(frozen=True)
class Skipped:
    """A WARC record without text for us (warcinfo, request, metadata, non-HTML response)."""
    kind: str
    record: int


Item = Union[dict, Fault, Skipped]
# Gzip damage found while inflating: (offset in the inflated stream, reason, excerpt). The offset lets the
# parser attribute the damage to the record it cut, so that each damage is reported once.
Damage = list[tuple[int, str, str]]


def read_records(path: str, f: BinaryIO) -> Iterator[Item]:
    """Read one file with the reader its extension names (after removing `.gz`)."""
    name = path.lower().removesuffix(".gz")
    if name.endswith(WARC_EXTENSIONS):
        return read_warc(path, f)
    if name.endswith(JSONL_EXTENSIONS):
        return read_jsonl(path, f)
    if name.endswith(".parquet"):
        return read_parquet(path, f)
    return read_text(path, f)


def _byte_reader(parse: Callable[[str, _Source, Damage], Generator[Item, None, int]]) -> Callable:
    """Make a parser of a byte stream into a reader of a file: gunzip, zero-byte files, left-over damage.

    The parser returns the number of records it saw, which numbers the damage found after the last one.
    """
    @functools.wraps(parse)
    def reader(path: str, f: BinaryIO) -> Iterator[Item]:
        faults: Damage = []
        src = _open(f, faults)
        if src is None:
            yield Fault("empty_file", 0)
            return
        records = yield from parse(path, src, faults)
        yield from _drain(faults, records)
    return reader


@_byte_reader
def read_warc(path: str, src: _Source, faults: Damage) -> Generator[Item, None, int]:
    """WET `conversion` records and WARC `response` records with HTML; other record types are Skipped."""
    record = 0
    while True:
        yield from _drain(faults, record, src.position)
        src.skip_newlines()
        start = src.position
        ahead = src.peek(len(WARC_MAGIC))
        if not ahead:
            break
        if ahead != WARC_MAGIC:
            excerpt = _excerpt(src.skip_to_line(WARC_MAGIC))
            yield Fault(_take_damage(faults, start, src.position) or "garbage_bytes", record, excerpt)
            continue
        yield _warc_record(path, src, record, faults)
        record += 1
    return record


@_byte_reader
def read_jsonl(path: str, src: _Source, faults: Damage) -> Generator[Item, None, int]:
    """One `{"url": ..., "text": ...}` object per line; blank lines are ignored."""
    for record in itertools.count():
        yield from _drain(faults, record, src.position)
        start = src.position
        line = src.readline(MAX_LINE_BYTES)
        if not line:
            return record
        if _too_long(line):
            src.skip_line()
            yield Fault("line_too_long", record, _excerpt(line))
        elif line.strip():
            item = _json_document(path, record, line)
            damage = isinstance(item, Fault) and _take_damage(faults, start, src.position)
            yield Fault(damage, record, item.excerpt, item.url) if damage else item


@_byte_reader
def read_text(path: str, src: _Source, faults: Damage) -> Generator[Item, None, int]:
    """Each blank-line-separated block is a document with url `<path>#<block>`."""
    block, lines, size, problem = 0, [], 0, ""
    while True:
        yield from _drain(faults, block, src.position)
        line = src.readline(MAX_LINE_BYTES)
        if line.strip():
            if _too_long(line):
                src.skip_line()
                problem = problem or "line_too_long"
            size += len(line)
            if size > MAX_RECORD_BYTES:
                problem = problem or "record_too_large"
            if problem:   # keep only the block's first line, for the excerpt
                lines = lines[:1] or [line[:EXCERPT_CHARS]]
            else:
                lines.append(line)
            continue
        if lines:
            url = f"{path}#{block}"
            if problem:
                yield Fault(problem, block, _excerpt(lines[0]), url)
            else:
                yield _document(url, path, block, b"".join(lines), strip=True)
            block, lines, size, problem = block + 1, [], 0, ""
        if not line:
            return block


def read_parquet(path: str, f: BinaryIO) -> Iterator[Item]:
    """Columns `url` and `text`, read batch by batch (needs a seekable file, as Beam's are)."""
    if not f.read(1):
        yield Fault("empty_file", 0)
        return
    f.seek(0)
    record = 0
    try:
        table = pq.ParquetFile(f)
        missing = {"url", "text"} - set(table.schema_arrow.names)
        if missing:
            yield Fault("bad_parquet", 0, f"missing columns: {', '.join(sorted(missing))}")
            return
        for batch in table.iter_batches(columns=["url", "text"]):
            for url, text in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                yield _fields_document(path, record, url, text)
                record += 1
    except (pa.ArrowException, OSError) as error:
        yield Fault("bad_parquet", record, f"{type(error).__name__}: {error}")


class ReadDocuments(beam.PTransform):
    """PBegin -> Staged(documents, rejects, counts): expand the patterns, read every file, fan the documents out.

    Stage "read" counts `in` for every record seen (documents, faults and skipped records), `out` per
    document, `reject:<reason>` per fault and `skipped:<warc-type>` per record that carries no text. With
    `limit`, each file is read up to its `limit`-th document (a quick trial).
    """

    def __init__(self, patterns: list[str], limit: int | None = None):
        super().__init__()
        self.patterns, self.limit = list(patterns), limit

    def expand(self, pbegin) -> Staged:
        files = apply_stage(pbegin | "Patterns" >> beam.Create(self.patterns), "Match", _MatchFiles())
        read = apply_stage(files.main | "ReshuffleFiles" >> beam.Reshuffle(), "ReadFiles", _ReadFile(self.limit))
        # Files are the unit of parallelism (a crawl has tens of thousands): the documents stay in the
        # worker that read them and go on to LID and splitting there, without a shuffle of every page.
        return merge_staged("Read", read.main, [files, read])


class _MatchFiles(StageFn):
    """Pattern -> file paths; a pattern that matches nothing is a `missing_file` reject."""

    stage = STAGE

    def process(self, pattern: str):
        try:
            paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
        except Exception as error:  # any filesystem's failure must become a reject, not a crash
            self.count("in")
            yield from self.reject("read_error", shard=pattern, excerpt=f"{type(error).__name__}: {error}")
            return
        if not paths:
            self.count("in")
            yield from self.reject("missing_file", shard=pattern, excerpt=pattern)
        yield from paths


class _ReadFile(StageFn):
    """Path -> documents and rejects; an unexpected error ends the file as one `read_error` reject."""

    stage = STAGE

    def __init__(self, limit: int | None = None):
        self.limit = limit

    def process(self, path: str):
        record = documents = 0
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                for item in read_records(path, f):
                    self.count("in")
                    if isinstance(item, dict):
                        record, documents = item["record"] + 1, documents + 1
                        self.count("out")
                        yield item
                        if documents == self.limit:
                            break   # --limit: the rest of the file is not read
                        continue
                    record = item.record + 1
                    if isinstance(item, Skipped):
                        self.count(f"skipped:{item.kind}")
                    else:
                        yield from self.reject(item.reason, shard=path, record=item.record, url=item.url,
                                               excerpt=item.excerpt)
        except Exception as error:  # a reader bug or I/O failure must not kill the job
            self.count("in")
            yield from self.reject("read_error", shard=path, record=record, excerpt=f"{type(error).__name__}: {error}")


class _Source:
    """Pull-based reader over byte chunks with peek and push-back, so a parser can back up and resync.

    It buffers at most one line (bounded by the caller's limit) or one chunk beyond what was pushed back.
    """

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buf = b""
        self._pos = 0
        self._base = 0   # stream offset of self._buf[0]

    @property
    def position(self) -> int:
        """Offset of the next unread byte in the stream."""
        return self._base + self._pos

    def _more(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._base += self._pos
                self._buf = self._buf[self._pos:] + chunk
                self._pos = 0
                return True
        return False

    def peek(self, n: int) -> bytes:
        while len(self._buf) - self._pos < n and self._more():
            pass
        return self._buf[self._pos:self._pos + n]

    def read(self, n: int) -> bytes:
        parts = []
        while n > 0 and (self._pos < len(self._buf) or self._more()):
            part = self._buf[self._pos:self._pos + n]
            self._pos += len(part)
            n -= len(part)
            parts.append(part)
        return b"".join(parts)

    def unread(self, data: bytes) -> None:
        """Push back the last `len(data)` bytes read."""
        self._base += self._pos - len(data)
        self._buf = data + self._buf[self._pos:]
        self._pos = 0

    def readline(self, limit: int) -> bytes:
        """The next line with its newline, or its first `limit` bytes, or what is left before EOF."""
        while True:
            end = self._buf.find(b"\n", self._pos, self._pos + limit)
            if end >= 0:
                end += 1
                break
            if len(self._buf) - self._pos >= limit or not self._more():
                end = min(len(self._buf), self._pos + limit)
                break
        line = self._buf[self._pos:end]
        self._pos = end
        return line

    def read_through(self, pattern: re.Pattern, limit: int) -> bytes:
        """Bytes up to the end of the first match of `pattern` within `limit` bytes; b"" (reading nothing)
        when there is none before the limit or EOF."""
        while True:
            match = pattern.search(self._buf, self._pos, self._pos + limit)
            if match:
                data = self._buf[self._pos:match.end()]
                self._pos = match.end()
                return data
            if len(self._buf) - self._pos >= limit or not self._more():
                return b""

    def skip_line(self) -> None:
        """Discard the rest of the current line, however long."""
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                self._pos = end + 1
                return
            self._pos = len(self._buf)
            if not self._more():
                return

    def skip_newlines(self) -> None:
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in b"\r\n":
                self._pos += 1
            if self._pos < len(self._buf) or not self._more():
                return

    def skip_to_line(self, prefix: bytes) -> bytes:
        """Discard bytes up to the next line starting with `prefix` (the current position starts a line).

        Returns the first discarded bytes, for the fault's excerpt.
        """
        if self.peek(len(prefix)) == prefix:
            return b""
        needle = b"\n" + prefix
        head = b""
        while True:
            found = self._buf.find(needle, self._pos)
            stop = found + 1 if found >= 0 else max(self._pos, len(self._buf) - len(needle) + 1)
            head += self._buf[self._pos:stop][:EXCERPT_CHARS - len(head)]
            self._pos = stop
            if found >= 0:
                return head
            if not self._more():
                self._pos = len(self._buf)
                return head


def _open(f: BinaryIO, faults: Damage) -> _Source | None:
    """The file's (decompressed) bytes, or None for a zero-byte file; gzip is recognised by its magic."""
    first = f.read(CHUNK_BYTES)
    if not first:
        return None
    chunks = itertools.chain((first,), iter(lambda: f.read(CHUNK_BYTES), b""))
    return _Source(_gunzip(chunks, faults) if first.startswith(GZIP_MAGIC[:2]) else chunks)


def _gunzip(chunks: Iterator[bytes], faults: Damage) -> Iterator[bytes]:
    """Inflate a multi-member gzip stream member by member; damage is appended to `faults` and reading
    goes on at the next member's magic bytes, after a blank line.

    Until a member inflates its first bytes its input is kept (up to GZIP_RESCAN_BYTES), so that a damaged
    header which swallows the following members can be rescanned for them.
    """
    buf, inflater, damaged, produced = b"", None, False, 0
    member: list[bytes] | None = None
    while True:
        if inflater is None:
            buf, skipped = _to_gzip_magic(buf, chunks)
            if skipped and not damaged:
                faults.append((produced, "gzip_garbage", _excerpt(skipped)))
            if not buf:
                return
            if damaged:   # data is missing here: make the gap a blank line so the next member starts afresh
                produced += 2
                yield b"\n\n"
            inflater, damaged, member = zlib.decompressobj(wbits=31), False, [buf]
        if not buf:
            buf = next(chunks, b"")
            if member is not None:
                member.append(buf)
                if sum(map(len, member)) > GZIP_RESCAN_BYTES:
                    member = None
            if not buf:
                tail = inflater.flush()
                if tail:
                    produced += len(tail)
                    yield tail
                rest = b"".join(member)[1:] if member is not None and not tail else b""
                if GZIP_MAGIC not in rest:
                    faults.append((produced, "truncated_gzip", "gzip stream ends inside a member"))
                    return
                faults.append((produced, "corrupt_gzip", "damaged gzip header swallowed the next member"))
                buf, inflater, damaged = rest, None, True
                continue
        try:
            out = inflater.decompress(buf, GZIP_OUT_BYTES)
        except zlib.error as error:
            faults.append((produced, "corrupt_gzip", str(error)))
            buf = b"".join(member)[1:] if member is not None else buf[1:]
            inflater, damaged = None, True
            continue
        if out:
            member = None
            produced += len(out)
            yield out
        if inflater.eof:
            buf, inflater = inflater.unused_data, None
        else:
            buf = inflater.unconsumed_tail


def _to_gzip_magic(buf: bytes, chunks: Iterator[bytes]) -> tuple[bytes, bytes]:
    """(bytes from the next gzip magic on, or b"" at EOF; the first skipped bytes)."""
    skipped = b""
    keep = len(GZIP_MAGIC) - 1
    while True:
        found = buf.find(GZIP_MAGIC)
        if found >= 0:
            return buf[found:], skipped + buf[:found][:EXCERPT_CHARS]
        more = next(chunks, None)
        if more is None:
            return b"", skipped + buf[:EXCERPT_CHARS]
        cut = max(0, len(buf) - keep)
        skipped += buf[:cut][:EXCERPT_CHARS - len(skipped)]
        buf = buf[cut:] + more


def _drain(faults: Damage, record: int, upto: float = float("inf")) -> Iterator[Fault]:
    """Report the gzip damage found before stream offset `upto` (all of it at the end)."""
    for damage in [d for d in faults if d[0] <= upto]:
        faults.remove(damage)
        yield Fault(damage[1], record, damage[2])


def _take_damage(faults: Damage, start: int, end: int) -> str:
    """Claim truncated/corrupt gzip damage inside stream offsets (start, end], the span of a record that it
    spoilt, so the record is reported once, as that damage; returns its reason or ""."""
    for damage in faults:
        if start < damage[0] <= end and damage[1] in ("truncated_gzip", "corrupt_gzip"):
            faults.remove(damage)
            return damage[1]
    return ""


def _warc_record(path: str, src: _Source, record: int, faults: Damage) -> Item:
    """Parse one record at a `WARC/1.` line; on damage resynchronise at the next `WARC/1.` line."""
    start = src.position
    headers, problem, first_line = _warc_headers(src)
    url = headers.get(b"warc-target-uri", b"").decode("utf-8", "replace")

    def fault(reason: str, excerpt: bytes) -> Fault:
        src.skip_to_line(WARC_MAGIC)
        return Fault(_take_damage(faults, start, src.position) or reason, record, _excerpt(excerpt), url)

    if problem:
        return fault("truncated_record" if problem == "eof" else problem, first_line)
    declared = headers.get(b"content-length", b"")
    if not declared.isdigit():
        return fault("bad_content_length", b"Content-Length: " + declared)
    if int(declared) > MAX_RECORD_BYTES:
        return fault("record_too_large", b"Content-Length: " + declared)
    body = src.read(int(declared))
    if len(body) < int(declared):
        src.unread(body)   # a wrong length may have swallowed later records: rescan from the body start
        return fault("truncated_record", body)
    if not _at_record_end(src):
        src.unread(body)
        return fault("bad_content_length", body)
    kind = headers.get(b"warc-type", b"").decode("latin-1")
    if kind == "conversion":
        return _document(url or f"{path}#{record}", path, record, body)
    if kind == "response":
        return _response_document(url or f"{path}#{record}", path, record, body)
    return Skipped(kind or "unknown", record)


def _warc_headers(src: _Source) -> tuple[dict[bytes, bytes], str, bytes]:
    """The header block at a `WARC/1.` line: its fields (lower-case names), "" or what went wrong ("eof",
    "bad_header"), and its first line. A bad field line is left unread: it may start the next record."""
    block = src.read_through(_BLANK_LINE, MAX_HEADER_BYTES)
    if not block:
        problem = "bad_header" if len(src.peek(MAX_HEADER_BYTES)) >= MAX_HEADER_BYTES else "eof"
        return {}, problem, src.readline(MAX_HEADER_BYTES)
    lines = block.split(b"\n")   # the WARC/1.x line, the fields, the blank line, b""
    headers: dict[bytes, bytes] = {}
    offset = len(lines[0]) + 1
    for line in lines[1:-2]:
        if line[:1] not in (b" ", b"\t"):   # not a folded continuation line
            name, colon, value = line.partition(b":")
            if not colon:
                src.unread(block[offset:])
                return headers, "bad_header", lines[0]
            headers[name.strip().lower()] = value.strip()
        offset += len(line) + 1
    return headers, "", lines[0]


def _at_record_end(src: _Source) -> bool:
    """Does the declared length end the block where the record's blank lines start (or the file ends)?"""
    ahead = src.peek(4 + len(WARC_MAGIC))
    if ahead.startswith((b"\r\n\r\n", b"\n\n")):
        return True
    rest = ahead.lstrip(b"\r\n")
    return not rest or rest.startswith(WARC_MAGIC)


def _response_document(url: str, path: str, record: int, block: bytes) -> Item:
    """An HTTP response: HTML (de-chunked, gunzipped, charset-decoded) to plain text; other types are Skipped."""
    head, sep, body = block.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = block.partition(b"\n\n")
    if not sep or not head.startswith(b"HTTP/"):
        return Fault("bad_http", record, _excerpt(block), url)
    fields = {}
    for line in head.splitlines()[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.strip().lower()] = value.strip()
    content_type = fields.get("content-type", "").lower()
    if not content_type.startswith(HTML_TYPES):
        return Skipped("response", record)
    try:
        if "chunked" in fields.get("transfer-encoding", "").lower():
            body = _dechunk(body)
        if fields.get("content-encoding", "").lower() in ("gzip", "x-gzip", "deflate"):
            inflater = zlib.decompressobj(wbits=47)
            body = inflater.decompress(body, MAX_RECORD_BYTES)
    except (ValueError, zlib.error) as error:
        return Fault("bad_http", record, str(error), url)
    if b"\x00" in body:
        return Fault("binary_payload", record, _excerpt(body), url)
    charset = re.search(r"charset=[\"']?([\w.:-]+)", content_type)
    html = bytes_to_str(body, map_encoding_to_html5(charset.group(1)) if charset else detect_encoding(body))
    return _fields_document(path, record, url, extract_plain_text(html))


def _dechunk(body: bytes) -> bytes:
    """Undo HTTP chunked transfer encoding (ValueError when the chunk sizes are damaged)."""
    parts, pos = [], 0
    while True:
        eol = body.find(b"\n", pos)
        if eol < 0:
            raise ValueError("chunked body without a chunk size line")
        size = int(body[pos:eol].split(b";")[0].strip(), 16)
        if size == 0:
            return b"".join(parts)
        parts.append(body[eol + 1:eol + 1 + size])
        pos = body.find(b"\n", eol + 1 + size) + 1
        if pos == 0:
            return b"".join(parts)


def _json_document(path: str, record: int, line: bytes) -> Item:
    try:
        value = json.loads(line.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return Fault("bad_json", record, _excerpt(line))
    if not isinstance(value, dict):
        return Fault("bad_json", record, _excerpt(line))
    return _fields_document(path, record, value.get("url"), value.get("text"))


def _fields_document(path: str, record: int, url: object, text: object) -> Item:
    """A document from already decoded fields (JSON, Parquet, extracted HTML); no url -> `<path>#<record>`."""
    url = _clean(url) if isinstance(url, str) and url else f"{path}#{record}"
    if not isinstance(text, str):
        return Fault("no_text", record, _excerpt(repr(text)), url)
    text = _clean(text)
    problem = _text_problem(text.encode("utf-8"), text)
    if problem:
        return Fault(problem, record, _excerpt(text), url)
    return {"url": url, "shard": path, "record": record, "text": text}


def _document(url: str, path: str, record: int, raw: bytes, strip: bool = False) -> Item:
    """A document from raw bytes, or the fault that stops it."""
    text = raw.decode("utf-8", "replace")
    if strip:
        text = text.rstrip("\r\n")
    problem = _text_problem(raw, text)
    if problem:
        return Fault(problem, record, _excerpt(raw), url)
    return {"url": url, "shard": path, "record": record, "text": text}


def _text_problem(raw: bytes, text: str) -> str:
    """Why this text (decoded from `raw`) is not a document ("" when it is one)."""
    if not text.strip():
        return "empty_record"
    if b"\x00" in raw or len(raw) - len(raw.translate(None, _CONTROL_BYTES)) > MAX_BAD_CHAR_RATIO * len(raw):
        return "binary_payload"
    if text.count("\ufffd") > MAX_BAD_CHAR_RATIO * len(text):
        return "undecodable_text"
    if len(raw) > MAX_LINE_BYTES and max(map(len, raw.split(b"\n"))) > MAX_LINE_BYTES:
        return "line_too_long"
    return ""


def _too_long(line: bytes) -> bool:
    return len(line) >= MAX_LINE_BYTES and not line.endswith(b"\n")


def _clean(text: str) -> str:
    """Replace lone surrogates (JSON allows them, UTF-8 does not) so the text can be written."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _excerpt(data: bytes | str) -> str:
    """A short printable excerpt of damaged input for the reject row."""
    if isinstance(data, bytes):
        data = data[:EXCERPT_CHARS].decode("utf-8", "replace")
    return data[:EXCERPT_CHARS].translate(_EXCERPT_TABLE)
