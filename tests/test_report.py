"""The run report: sections, HTML escaping, no external resources, bounded sampling, and a real render in
headless Chromium checked pixel by pixel."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from parabeam import schemas
from parabeam.pipeline.export import dataset_parts
from parabeam.pipeline.report import (extreme_rows, histogram_range, pair_sample, row_groups, sample_rows,
                                      timings_section, write_report)
from tests.crawl_fixtures import mine
from tests.multilingual import ALL_PAIRS, LANGS, write_crawl

CHROMIUM = Path("/usr/bin/chromium")
DEMO = Path(__file__).resolve().parents[1] / "out" / "demo"
HOSTILE = "<script>alert('x')</script> & <b>bold</b>"
THRESHOLD = 1.06
WORDS = "the a cat dog house tree river mountain light water book city green old new".split()


def write_dataset(directory: Path, schema: pa.Schema, rows: list[dict], files: int, group_rows: int) -> None:
    directory.mkdir(parents=True)
    for i in range(files):
        table = pa.Table.from_pylist(rows[i::files], schema=schema)
        pq.write_table(table, directory / f"part-{i:05d}-of-{files:05d}.parquet", row_group_size=group_rows)


def bitext_rows(src: str, tgt: str, n: int, rng: np.random.Generator) -> list[dict]:
    rows = []
    for i in range(n):
        words = rng.choice(WORDS, size=int(rng.integers(3, 25)))
        src_text = " ".join(words).capitalize() + "."
        tgt_text = " ".join(w[::-1] for w in words[: max(1, len(words) + int(rng.integers(-3, 4)))]) + "."
        rows.append({"src_lang": src, "tgt_lang": tgt, "src_text": src_text, "tgt_text": tgt_text,
                     "score": THRESHOLD + float(rng.exponential(0.06)), "cosine": float(rng.uniform(0.5, 0.95)),
                     "src_id": f"{src}{i:06d}", "tgt_id": f"{tgt}{i:06d}", "src_urls": ["https://a.example/"],
                     "tgt_urls": ["https://b.example/"], "direction": "fwd", "encoder": "muse-3"})
    rows[n // 3].update(src_text=HOSTILE, score=THRESHOLD + 5)
    return rows


def run_json(timings: bool) -> dict:
    by_lang = lambda **outs: {lang: {"out": n} for lang, n in outs.items()}  # noqa: E731
    stages = {
        "read": {"in": 60, "out": 55, "reject": {"bad_encoding": 3}, "merged": {}, "skipped": {"warcinfo": 2},
                 "by_lang": {}},
        "lid": {"in": 900, "out": 700, "reject": {"unwanted_lang": 150, "too_short": 50}, "merged": {},
                "skipped": {}, "by_lang": by_lang(en=400, de=200, fr=100)},
        "split": {"in": 700, "produced": 9000, "out": 8800, "reject": {"too_long": 200}, "merged": {},
                  "skipped": {}, "by_lang": by_lang(en=5000, de=2500, fr=1300)},
        "dedup": {"in": 8800, "out": 7000, "reject": {}, "merged": {"duplicate": 1800}, "skipped": {},
                  "by_lang": by_lang(en=4000, de=2000, fr=1000)},
        "embed": {"in": 7000, "out": 7000, "reject": {}, "merged": {}, "skipped": {},
                  "by_lang": by_lang(en=4000, de=2000, fr=1000)},
        "bitext": {"in": 3900, "out": 3800, "reject": {"identical": 100}, "merged": {}, "skipped": {},
                   "by_lang": {"en-de": {"in": 3050, "out": 3000, "reject": {"identical": 50}},
                               "en-fr": {"in": 850, "out": 800, "reject": {"identical": 50}}}},
    }
    run = {"command": "mine", "runner": "local", "stages": stages,
           "parameters": {"threshold": THRESHOLD, "k": 4, "margin": "ratio", "retrieval": "max",
                          "encoder": "muse", "langs": ["de", "en", "fr"], "pairs": [["en", "de"], ["en", "fr"]]}}
    if timings:
        run["timings"] = {"read": 3.5, "lid": 12.25, "embed": 80.0, "bitext": 20.5}
    return run


def make_run(root: Path, timings: bool = True) -> Path:
    rng = np.random.default_rng(3)
    root.mkdir(parents=True)
    (root / "run.json").write_text(json.dumps(run_json(timings)))
    write_dataset(root / "bitext" / "en-de", schemas.BITEXT, bitext_rows("en", "de", 3000, rng), 3, 400)
    write_dataset(root / "bitext" / "en-fr", schemas.BITEXT, bitext_rows("en", "fr", 800, rng), 1, 800)
    lid_rejects = [{"stage": "lid", "reason": "too_short", "lang": "en", "shard": "s0", "record": i,
                    "url": "https://c.example/", "excerpt": "<img src=x onerror=alert(1)>"} for i in range(5)]
    write_dataset(root / "rejects" / "lid", schemas.REJECTS, lid_rejects, 1, 100)
    write_dataset(root / "sentences" / "en", schemas.SENTENCES,
                  [{"id": "e1", "lang": "en", "text": "Hi.", "count": 1, "urls": []}], 1, 100)
    return root


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    run = make_run(tmp_path_factory.mktemp("report") / "run")
    path = write_report(str(run))
    return Path(path), Path(path).read_text(encoding="utf-8")


def test_report_has_every_section_with_exact_counts(report):
    path, page = report
    assert path.name == "report.html" and path.parent.name == "run"
    for section in ("funnel", "pairs", "scores", "samples", "rejects", "timings"):
        assert f'id="{section}"' in page
    # funnel: totals + language heatmap; pairs bar; scores: all pairs + small multiples + lengths; rejects;
    # timings
    assert page.count('<img src="data:image/png;base64,') == 8
    assert '<td>en-de</td><td class="num">3,000</td>' in page
    assert '<td>en-fr</td><td class="num">800</td>' in page
    assert '<td>lid</td><td>reject</td><td>unwanted_lang</td><td class="num">150</td>' in page
    assert '<td>dedup</td><td>merged</td><td>duplicate</td><td class="num">1,800</td>' in page
    assert '<td class="num">9,000</td>' in page  # split: sentences produced
    assert page.count("<td>just above</td>") == 10 and page.count("<td>high</td>") == 10
    assert "No pairs just below the threshold" in page and "kept no candidates below" in page


def test_just_above_is_the_exact_lowest_and_just_below_reads_the_below_threshold_candidates(tmp_path):
    run = make_run(tmp_path / "run")
    rows = bitext_rows("en", "de", 3000, np.random.default_rng(3))
    lowest = sorted(row["score"] for row in rows)[:5]
    below = [{**row, "score": THRESHOLD - 0.001 * (i + 1)} for i, row in enumerate(rows[:300])]
    write_dataset(run / "below_threshold" / "en-de", schemas.BITEXT, below, 2, 50)
    parts = dataset_parts(str(run), "bitext")["en-de"]
    found = extreme_rows(parts, ["score"], 5, lowest=True).column("score").to_pylist()
    assert found == lowest
    sample = pair_sample("en-de", parts, dataset_parts(str(run), "below_threshold")["en-de"])
    assert sample.lowest.column("score").to_pylist() == lowest
    assert sample.below.column("score").to_pylist() == pytest.approx([THRESHOLD - 0.001 * i for i in range(1, 6)])
    assert sample.below_scores.size == 300                  # the distribution plot gets all of them
    runs = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**runs, "thresholds": {"en-de": {"threshold": 1.1}}}))
    assert "en-de (threshold 1.1)" in Path(write_report(str(run))).read_text(encoding="utf-8")
    (run / "run.json").write_text(json.dumps(runs))
    page = Path(write_report(str(run))).read_text(encoding="utf-8")
    assert page.count("<td>just below</td>") == 5
    assert "No candidate below the threshold was kept for this pair." in page    # en-fr
    assert "kept no candidates below" not in page
    assert f'<td class="num">{lowest[0]:.4f}</td><td class="num">{lowest[0] - THRESHOLD:.4f}</td>' in page


def test_histogram_keeps_the_top_pair_and_only_cuts_far_outliers():
    few = np.array([1.47, 1.5, 1.6, 1.7, 1.86])
    assert histogram_range(few) == (1.47, 1.86)
    many = np.concatenate([np.linspace(1.1, 1.4, 1000), [9.0]])
    low, high = histogram_range(many)
    assert low == 1.1 and high < 1.5


def test_timings_say_what_they_have():
    only_total = timings_section({"pipeline": 95.5})
    assert "95.5 s" in only_total and "Per-stage times were not recorded" in only_total
    assert "<img" not in only_total
    staged = timings_section({"pipeline": 100.0, "read": 3.5, "embed": 80.0})
    assert staged.count("<img") == 1 and "Stages together: 83.5 s (84% of the total)" in staged
    assert staged.index("<td>embed</td>") < staged.index("<td>read</td>")


def test_texts_are_escaped_and_nothing_loads_from_outside(report):
    _path, page = report
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in page and "<b>bold" not in page and "<img src=x" not in page
    assert re.findall(r'(?:src|href)="(?!data:image/png;base64,|#)', page) == []
    assert "<link" not in page and "url(" not in page and "@import" not in page


def test_run_without_bitext_or_timings_then_with_an_empty_pair(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({**run_json(timings=False), "stages": {}}))
    page = Path(write_report(str(run))).read_text()
    assert "No bitext was written." in page and "No record was rejected" in page
    assert 'id="timings"' not in page
    write_dataset(run / "bitext" / "en-fr", schemas.BITEXT, [], 1, 100)
    page = Path(write_report(str(run))).read_text()
    assert '<td>en-fr</td><td class="num">0</td>' in page and page.count("<img") == 2   # funnel, pairs bar


def test_sampling_is_bounded_and_spread_over_files(tmp_path):
    rows = bitext_rows("en", "de", 3000, np.random.default_rng(0))
    write_dataset(tmp_path / "bitext" / "en-de", schemas.BITEXT, rows, 3, 400)
    groups = row_groups(dataset_parts(str(tmp_path), "bitext")["en-de"])
    assert len(groups) == 9 and sum(n for *_g, n in groups) == 3000
    sampled = sample_rows(groups, ["src_id"], 1100).column("src_id").to_pylist()
    assert len(sampled) == 1100 == len(set(sampled))
    assert {int(ident[2:]) % 3 for ident in sampled} == {0, 1, 2}  # rows of every file
    everything = sample_rows(groups, ["src_id"], 5000).column("src_id").to_pylist()
    assert sorted(everything) == sorted(row["src_id"] for row in rows)
    sample = pair_sample("en-de", dataset_parts(str(tmp_path), "bitext")["en-de"])
    assert sample.rows == 3000 and sample.scores.size == 3000
    assert sample.texts.column("score").to_pylist()[0] == THRESHOLD + 5


@pytest.mark.skipif(not DEMO.joinpath("run.json").exists(), reason="no real run in out/demo")
def test_report_of_the_real_demo_run(tmp_path):
    run = tmp_path / "demo"
    shutil.copytree(DEMO, run, ignore=shutil.ignore_patterns("report.html"))
    page = Path(write_report(str(run))).read_text(encoding="utf-8")
    assert 'id="funnel"' in page and 'id="samples"' in page and "<script" not in page


def colour_pixels(pixels: np.ndarray, hex_colour: str, tolerance: int = 12) -> int:
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels.astype(int) - target).max(axis=-1) <= tolerance).sum())


def screenshot_of(path: Path, folder: Path, size: tuple[int, int]) -> np.ndarray:
    """The page as headless Chromium draws it in a window of `size`, as RGB pixels."""
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    screenshot = folder / "report.png"
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", f"--user-data-dir={folder / 'profile'}", f"--screenshot={screenshot}",
                    f"--window-size={size[0]},{size[1]}", path.as_uri()],
                   check=True, capture_output=True, timeout=180)
    image = Image.open(screenshot).convert("RGB")
    assert image.size == size
    return np.asarray(image)


def test_report_renders_its_plots_in_headless_chromium(report, tmp_path):
    path, _page = report
    pixels = screenshot_of(path, tmp_path, (1200, 3000))
    assert pixels.std() > 20
    assert (pixels.min(axis=-1) < 240).mean() > 0.05  # share of non-white pixels
    palette = {"#1f77b4": 2000, "#aec7e8": 500, "#ff7f0e": 500, "#d62728": 100}  # out, in, en-fr, threshold
    found = {colour: colour_pixels(pixels, colour) for colour in palette}
    assert all(found[colour] >= least for colour, least in palette.items()), found


def test_thresholds_per_pair_with_every_best_candidate_the_mixture_and_the_threshold(tmp_path):
    """DIR/thresholds.jsonl (written by the job): a table of each pair's threshold, how it was chosen and
    its estimated precision, and a plot of all best-candidate scores with the fitted mixture."""
    from parabeam.transforms.margin import threshold_choice
    from parabeam.transforms.threshold import histogram

    run = make_run(tmp_path / "run")
    rng = np.random.default_rng(0)
    scores = np.exp(np.concatenate([rng.normal(np.log(1.6), 0.06, 1000), rng.normal(np.log(1.05), 0.05, 2000)]))
    rows = [threshold_choice("en-de", histogram(scores), "auto", 1.4),
            threshold_choice("en-fr", histogram(scores[:150]), "auto", 1.4)]
    (run / "thresholds.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    page = Path(write_report(str(run))).read_text()
    assert 'id="thresholds"' in page and 'href="#thresholds"' in page
    assert rows[0]["chosen"] == "auto" and 1.15 < rows[0]["threshold"] < 1.45
    assert f'<td>en-de</td><td class="num">{rows[0]["threshold"]:.3f}</td><td>auto</td>' in page
    assert '<td>en-fr</td><td class="num">1.400</td><td>default</td>' in page   # 150 scores: too few to choose
    assert page.count('<img src="data:image/png;base64,') == 8 + 2   # and one best-candidate plot per pair


@pytest.fixture(scope="module")
def run15(tmp_path_factory) -> Path:
    """A real 15-language run: every one of the 105 pairs of tests/multilingual.py's crawl."""
    root = tmp_path_factory.mktemp("report15")
    output = root / "out"
    mine([write_crawl(root / "crawl")], output, ",".join(LANGS), "--direct_num_workers", "2")
    return output


def png_sizes(page: str) -> list[tuple[int, int]]:
    import base64
    import io
    return [Image.open(io.BytesIO(base64.b64decode(data))).size
            for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_report_of_15_languages_and_105_pairs_stays_readable(run15, tmp_path):
    page = (run15 / "report.html").read_text(encoding="utf-8")
    assert page.count("<details>") >= ALL_PAIRS          # one collapsed sample table per pair
    sizes = png_sizes(page)
    # totals, languages x stages, languages x languages, per-language bars, all scores, small multiples,
    # lengths, rejects: a fixed number of plots however many pairs; only the small multiples (15 rows of 7)
    # are taller than a screen and a half
    assert 6 <= len(sizes) <= 9, sizes
    heights = sorted(height for _width, height in sizes)
    assert heights[-2] <= 1500 and heights[-1] <= 2400, sizes
    assert "worker time of the bundles it ran in" in page   # per-stage times, from the job's accounts
    start = page.index("Closest to the threshold")
    closest = page[start:page.index("Per language pair", start)]
    assert closest.count("<td>just above</td>") == 10
    pixels = screenshot_of(run15 / "report.html", tmp_path, (1280, 4000))
    assert pixels.std() > 20
    assert (pixels.min(axis=-1) < 240).mean() > 0.05
    # The bars' blue and the threshold's red are drawn, and the two heatmaps fill large blue areas.
    found = {colour: colour_pixels(pixels, colour, 16) for colour in ("#1f77b4", "#d62728")}
    assert found["#1f77b4"] > 2000 and found["#d62728"] > 50, found
    rgb = pixels.astype(int)
    assert ((rgb[..., 2] - rgb[..., 0]) > 60).sum() > 300_000   # 15 x 6 and 15 x 15 cells of blue
