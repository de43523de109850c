"""The torch encoders (`st:PATH`, `hf:PATH`) on CUDA against the CPU: speed, and whether the vectors agree.

    python -m benchmarks.gpu_encoders --model PATH --out FILE [--n 4000]

Both kinds are loaded with `load_encoder`, so `_torch_device` picks the device and dtype as the pipeline
does: CUDA in fp16 here, CPU in fp32 in a child process started with CUDA_VISIBLE_DEVICES="". Each encode
is timed after an untimed encode of the same sentences: the first pass over a length-sorted set meets every
batch shape for the first time, and on CUDA that pass ran 4-6x slower than the next (measured on an H200). The sentences are generated English (seeded, so every run sees the same
ones), varied in vocabulary and in length (6 to about 40 words). Agreement is 1 - cosine between each
sentence's GPU and CPU vector (largest and mean), and whether the nearest neighbour (largest inner product, the sentence
itself left out) of each of the first 500 sentences among all of them is the same sentence on both.
Without a GPU the CPU side still runs and the GPU columns read n/a.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from parabeam.transforms.encoders import _torch_device, load_encoder

KINDS = ("st", "hf")
NEIGHBOURS = 500

_SUBJECTS = ["the city council", "a local farmer", "our neighbour", "the new teacher", "the old bridge",
             "a small company", "the river", "my grandmother", "the museum", "a group of students",
             "the train to Berlin", "the hospital", "this recipe", "the weather service", "the football club",
             "an engineer from Lyon", "the library", "the ferry", "a young doctor", "the bakery on the corner"]
_VERBS = ["opened", "closed", "announced", "repaired", "described", "visited", "crossed", "sold", "painted",
          "rejected", "approved", "postponed", "measured", "photographed", "recommended", "cleaned"]
_OBJECTS = ["the northern gate", "a new playground", "three wooden boats", "the annual report",
            "its winter timetable", "a plan for cheaper housing", "the flooded cellar", "twelve apple trees",
            "the broken clock", "a collection of old maps", "the night shift", "a bicycle lane",
            "the concert hall", "the budget for next year", "a long letter", "the solar panels"]
_WHEN = ["on Monday", "last winter", "after the storm", "before sunrise", "in 1987", "during the festival",
         "two weeks ago", "every spring", "at midnight", "without warning", "for the first time"]
_WHY = ["because the roads were icy", "although nobody had asked for it", "so that children could play "
        "safely", "while the mayor was abroad", "after years of complaints", "to save money",
        "despite heavy rain", "as the law requires"]
_TAILS = ["Prices rose by {n} percent.", "About {n} people came.", "It took {n} days.",
          "Nobody expected that.", "Will it happen again?", "The results surprised everyone.",
          "Tickets cost {n} euros.", "Please call us for details."]


def sentences(n: int, seed: int = 0) -> list[str]:
    """`n` distinct English sentences, the same ones for the same seed."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < n:
        clauses = [f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"]
        if rng.random() < 0.6:
            clauses.append(rng.choice(_WHEN))
        if rng.random() < 0.4:
            clauses.append(rng.choice(_WHY))
        text = " ".join(clauses)
        text = text[0].upper() + text[1:] + "."
        for _ in range(rng.choice([0, 0, 0, 1, 2, 4])):
            text += " " + rng.choice(_TAILS).format(n=rng.randint(2, 999))
        seen[text] = None
    return list(seen)


def encode_all(model: str, texts: list[str]) -> dict[str, dict]:
    """Vectors, encode seconds and parameter dtype for each kind, on the device `_torch_device` picks."""
    results = {}
    for kind in KINDS:
        encoder = load_encoder(f"{kind}:{model}")
        encoder.encode(texts)   # warm-up: every batch shape once
        start = time.perf_counter()
        vectors = encoder.encode(texts)
        seconds = time.perf_counter() - start
        dtype = next(encoder._model.parameters()).dtype  # what the weights were loaded as
        results[kind] = {"vectors": vectors, "seconds": seconds, "dtype": str(dtype)}
        del encoder
    return results


def device_name() -> str:
    import torch

    if _torch_device()[0] == "cuda":
        return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    return f"CPU {platform.machine()}, {torch.get_num_threads()} threads (torch {torch.__version__})"


def cpu_reference(model: str, n: int) -> tuple[str, dict[str, dict]]:
    """`encode_all` in a child process that sees no GPU, so the encoders run as on a CPU worker."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cpu.npz"
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        subprocess.run([sys.executable, "-m", "benchmarks.gpu_encoders", "--model", model, "--n", str(n),
                        "--worker", str(out)], check=True, env=env, cwd=Path(__file__).resolve().parents[1])
        saved = np.load(out)
        results = {kind: {"vectors": saved[f"{kind}_vectors"], "seconds": float(saved[f"{kind}_seconds"]),
                          "dtype": str(saved[f"{kind}_dtype"])} for kind in KINDS}
        return str(saved["device"]), results


def compare(gpu: np.ndarray, cpu: np.ndarray) -> tuple[float, float, int]:
    """Largest and mean 1 - cosine between matching rows; how many of the first NEIGHBOURS rows have the same
    nearest neighbour (self excluded) on both."""
    distances = 1 - np.sum(gpu * cpu, axis=1)
    first = min(NEIGHBOURS, len(gpu))
    nearest = []
    for vectors in (gpu, cpu):
        scores = vectors[:first] @ vectors.T
        scores[np.arange(first), np.arange(first)] = -np.inf
        nearest.append(scores.argmax(axis=1))
    return float(distances.max()), float(distances.mean()), int(np.sum(nearest[0] == nearest[1]))


def table(model: str, n: int, gpu_device: str | None, cpu_device: str, gpu: dict | None, cpu: dict) -> str:
    first = min(NEIGHBOURS, n)
    lines = [f"model: {model}", f"{n} generated English sentences, timed encode of all after an untimed one",
             f"GPU: {gpu_device or 'none visible to torch (GPU columns n/a)'}", f"CPU reference: {cpu_device}",
             "",
             f"{'kind':<5}{'GPU dtype':>11}{'CPU dtype':>11}{'GPU sent/s':>12}{'CPU sent/s':>12}"
             f"{'1-cos max':>11}{'1-cos mean':>11}{f'NN agree/{first}':>15}"]
    for kind in KINDS:
        c = cpu[kind]
        if gpu is None:
            g_dtype, g_rate, worst, mean, agree = "n/a", "n/a", "n/a", "n/a", "n/a"
        else:
            g = gpu[kind]
            largest, average, same = compare(g["vectors"], c["vectors"])
            g_dtype, g_rate = g["dtype"].removeprefix("torch."), f"{n / g['seconds']:.0f}"
            worst, mean, agree = f"{largest:.1e}", f"{average:.1e}", str(same)
        lines.append(f"{kind:<5}{g_dtype:>11}{c['dtype'].removeprefix('torch.'):>11}{g_rate:>12}"
                     f"{n / c['seconds']:>12.0f}{worst:>11}{mean:>11}{agree:>15}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="sentence-transformers checkpoint folder")
    parser.add_argument("--out", type=Path, help="write the table here too")
    parser.add_argument("--n", type=int, default=4000, help="sentences to encode")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # child: save encode_all here
    args = parser.parse_args(argv)
    texts = sentences(args.n)

    if args.worker:
        results = encode_all(args.model, texts)
        np.savez(args.worker, device=device_name(),
                 **{f"{kind}_{key}": value for kind, result in results.items() for key, value in result.items()})
        return
    if _torch_device()[0] == "cuda":
        gpu_device, gpu = device_name(), encode_all(args.model, texts)
    else:
        gpu_device, gpu = None, None
    cpu_device, cpu = cpu_reference(args.model, args.n)
    report = table(args.model, args.n, gpu_device, cpu_device, gpu, cpu)
    print(report, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)


if __name__ == "__main__":
    main()
