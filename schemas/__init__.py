"""pyarrow schemas of every dataset parabeam writes; one place so readers and writers agree."""
import pyarrow as pa

DOCUMENTS = pa.schema([
    ("url", pa.string()),
    ("shard", pa.string()),
    ("record", pa.int64()),
    ("text", pa.string()),
])

# One row per unique normalised sentence of one language (the deduplicated sentence store).
SENTENCES = pa.schema([
    ("id", pa.string()),
    ("lang", pa.string()),
    ("text", pa.string()),
    ("count", pa.int64()),
    ("urls", pa.list_(pa.string())),
])

# Vectors are L2-normalised float32 in memory and stored as float16 to halve the store.
EMBEDDINGS = pa.schema([
    ("id", pa.string()),
    ("lang", pa.string()),
    ("vector", pa.list_(pa.float16())),
])

# The content-addressed embedding cache: key = id of the exact text embedded, per encoder and version.
EMBEDDING_CACHE = pa.schema([
    ("key", pa.string()),
    ("vector", pa.list_(pa.float16())),
])

BITEXT = pa.schema([
    ("src_lang", pa.string()),
    ("tgt_lang", pa.string()),
    ("src_text", pa.string()),
    ("tgt_text", pa.string()),
    ("score", pa.float64()),
    ("cosine", pa.float64()),
    ("src_id", pa.string()),
    ("tgt_id", pa.string()),
    ("src_urls", pa.list_(pa.string())),
    ("tgt_urls", pa.list_(pa.string())),
    ("direction", pa.string()),
    ("encoder", pa.string()),
])

# `parabeam score` output: the input pairs in input order with margin and cosine; `fields` keeps every input
# column (as text) so scores can be joined back to labels.
SCORES = pa.schema([
    ("row", pa.int64()),
    ("src_text", pa.string()),
    ("tgt_text", pa.string()),
    ("score", pa.float64()),
    ("cosine", pa.float64()),
    ("src_id", pa.string()),
    ("tgt_id", pa.string()),
    ("fields", pa.list_(pa.string())),
])

# The job's counts, summed per stage, kind of count and language (or pair): accounting.Tally.
ACCOUNTS = pa.schema([
    ("stage", pa.string()),
    ("what", pa.string()),
    ("lang", pa.string()),
    ("n", pa.int64()),
])

# Every record a stage refuses, with why and where it came from; never silently dropped.
REJECTS = pa.schema([
    ("stage", pa.string()),
    ("reason", pa.string()),
    ("lang", pa.string()),
    ("shard", pa.string()),
    ("record", pa.int64()),
    ("url", pa.string()),
    ("excerpt", pa.string()),
])
