"""Benchmark inputs from the shared data: every real sentence of a language, padded with spliced variants
when a benchmark needs more; mUSE embeddings of them cached on disk; synthetic vector sets shaped like them.

The shared data holds about 12k English and 3k German sentences (FLORES devtest, Tatoeba, the WET
excerpt, the ParaCrawl human-evaluation pairs). A spliced variant is the first part of one real sentence
joined to the last part of another of the same language: about as long as a real one and as varied in
vocabulary, so encoding costs the same per sentence, and no two variants are equal. Vector sets larger
than the data gives are sampled around the real vectors (synthetic), with translations planted in them.
"""
from __future__ import annotations

import hashlib
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bucc import DATA, FLORES, TATOEBA, flores_path, read_lines, tatoeba_paths, web_sentences

PARACRAWL = {"de": "sorted.en-de", "fr": "sorted.en-fr"}
EMBEDDING_CACHE = Path(tempfile.gettempdir()) / "parabeam-bench-embeddings"
# Noise scale for `synthetic`: with it, IVF recall@4 on synthetic sides of the real sides' sizes (21.7k x 11.3k)
# matches the real one (0.856, 0.951, 0.980 against 0.864, 0.958, 0.985 at nprobe 16, 64, 128); with 0.3
# the synthetic neighbourhoods are tighter and IVF finds them more easily (0.911, 0.975, 0.991).
DEFAULT_NOISE = 0.6
# Noise scale of a planted translation: mean cosine about 0.78 to its source, as mUSE's FLORES de-en pairs.
TRANSLATION_NOISE = 0.8
# Share of sentences with a translation on the other side at web-crawl density (bucc.py's `web` preset).
WEB_PARALLEL_SHARE = 0.03


def real_sentences(lang: str, data: Path = DATA) -> list[str]:
    """Every distinct sentence of `lang` in the shared data, in a fixed order."""
    texts: list[str] = []
    if lang in FLORES:
        texts += read_lines(flores_path(data, lang))
    for code in TATOEBA:
        side, english = tatoeba_paths(data, code)
        if lang == code:
            texts += read_lines(side)
        elif lang == "en":
            texts += read_lines(english)
    for other, name in PARACRAWL.items():
        if lang in ("en", other):
            for line in (data / "paracrawl_human_eval" / name).read_text(encoding="utf-8").splitlines():
                src, tgt = line.split("\t")[2:4]
                texts.append(" ".join((src if lang == "en" else tgt).split()))
    texts += web_sentences(data).get(lang, ())
    return list(dict.fromkeys(text for text in texts if text))


def splice(first: str, second: str, rng: random.Random) -> str:
    """The first part of one sentence (cut in its middle third, by words) + the last part of another."""
    a, b = first.split(), second.split()
    i = rng.randint(len(a) // 3, max(len(a) // 3, 2 * len(a) // 3))
    j = rng.randint(len(b) // 3, max(len(b) // 3, 2 * len(b) // 3))
    return " ".join(a[:max(i, 1)] + b[j:])


def sentences(lang: str, n: int, seed: int = 0, data: Path = DATA) -> list[str]:
    """`n` distinct sentences of `lang`: the real ones (a seeded sample when there are more than `n`),
    then spliced variants of them."""
    rng = random.Random(seed)
    real = real_sentences(lang, data)
    rng.shuffle(real)
    chosen = dict.fromkeys(real[:n])
    while len(chosen) < n:
        chosen.setdefault(splice(rng.choice(real), rng.choice(real), rng))
    return list(chosen)


def muse_vectors(texts: list[str]) -> np.ndarray:
    """mUSE embeddings [n, 512] float32 of `texts`, kept in a temp .npy keyed by the texts so reruns skip
    the encoding."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = EMBEDDING_CACHE / f"muse-{len(texts)}-{digest}.npy"
    if path.exists():
        return np.load(path)
    from parabeam.transforms.encoders import load_encoder

    encoder = load_encoder("muse")
    started = time.perf_counter()
    vectors = encoder.encode(texts)
    print(f"encoded {len(texts):,} sentences in {time.perf_counter() - started:.0f} s -> {path}", flush=True)
    EMBEDDING_CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def real_side(langs: list[str], data: Path = DATA) -> list[str]:
    """Every real sentence of the languages, language by language (a multilingual side for mining)."""
    return [text for lang in sorted(langs) for text in real_sentences(lang, data)]


def covariance_root(base: np.ndarray) -> np.ndarray:
    """A [dim, dim] matrix R such that z @ R, z standard normal, has the covariance of `base`'s rows."""
    values, vectors = np.linalg.eigh(np.cov(base, rowvar=False))
    return (np.sqrt(np.clip(values, 0, None))[:, None] * vectors.T).astype(np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic(base: np.ndarray, n: int, noise: float, seed: int = 0, neighbours: int = 10,
              block: int = 65_536) -> np.ndarray:
    """`n` unit vectors [n, dim] float32 shaped like `base`: a random point on the segment from a random row
    of `base` to one of its `neighbours` nearest rows (SMOTE), plus Gaussian noise with `base`'s own
    covariance times noise**2, renormalised. New points follow the real vectors' local structure and
    anisotropy and are all distinct, so the space gets denser with n as a real corpus does."""
    from parabeam.transforms.knn import knn

    rng = np.random.default_rng(seed)
    _sims, near = knn(base, base, neighbours + 1)
    mix = noise * covariance_root(base)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, block):
        rows = min(block, n - start)
        first = rng.integers(0, len(base), rows)
        second = near[first, rng.integers(1, neighbours + 1, rows)]
        along = rng.random((rows, 1), dtype=np.float32)
        part = base[first] + along * (base[second] - base[first])
        out[start:start + rows] = _unit(part + rng.standard_normal(part.shape, dtype=np.float32) @ mix)
    return out


def plant_translations(x: np.ndarray, y: np.ndarray, share: float = WEB_PARALLEL_SHARE,
                       seed: int = 0) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """(y with `share` of its rows replaced by "translations" of random x rows, the planted (x row, y row)
    pairs). A translation is its source plus noise with the sources' covariance (TRANSLATION_NOISE):
    synthetic sides have no translations of their own, so margin mining would find next to nothing."""
    rng = np.random.default_rng(seed)
    n = round(share * min(len(x), len(y)))
    src, tgt = rng.choice(len(x), n, replace=False), rng.choice(len(y), n, replace=False)
    mix = TRANSLATION_NOISE * covariance_root(x)
    y = y.copy()
    y[tgt] = _unit(x[src] + rng.standard_normal((n, x.shape[1]), dtype=np.float32) @ mix)
    return y, set(zip(src.tolist(), tgt.tolist()))
