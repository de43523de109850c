"""`parabeam report`: one self-contained HTML page about a finished run, to judge it at a glance.

The page needs no server and loads nothing from outside: plots are PNGs embedded as data URIs, the
style sheet is inline, and there is no script. Counts come from DIR/run.json (exact). Plots and sample
pairs come from a bounded sample of the bitext: whole row groups spread over a pair's part files, picked
until they hold SCORE_SAMPLE rows (TEXT_SAMPLE for the text columns), then evenly spaced rows of those, so
memory and reading time stay bounded however large a pair is. Row counts per pair come from Parquet
metadata, so they are exact too.
"""
from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from itertools import groupby

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from matplotlib.figure import Figure

from parabeam.pipeline.export import dataset_parts

# Pipeline order of the stages (as pipeline.build.STAGES; repeated so the report does not import the
# encoders and FAISS). Unknown stages follow, alphabetically.
STAGE_ORDER = ("read", "lid", "split", "dedup", "sentence_files", "embed", "bitext")
DROP_KINDS = ("reject", "merged", "skipped")
SCORE_SAMPLE = 200_000
TEXT_SAMPLE = 20_000
SAMPLE_PAIRS = 5
REJECT_SCAN = 50_000
EXCERPT_CHARS = 300
IN_COLOUR, OUT_COLOUR, THRESHOLD_COLOUR = "#aec7e8", "#1f77b4", "#d62728"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:0;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px;background:#fff}
h1{font-size:24px;margin:8px 0 4px}
h2{font-size:19px;margin:32px 0 8px;border-bottom:2px solid #e3e6ea;padding-bottom:4px}
h3{font-size:15px;margin:20px 0 6px}nav a{margin-right:14px}a{color:#1f5f99}
.muted{color:#666}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{border:1px solid #e3e6ea;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #e3e6ea;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.samples td{max-width:440px;overflow-wrap:anywhere}
img{max-width:100%;height:auto;display:block;margin:8px 0}
details{margin:8px 0}
"""


@dataclass
class PairSample:
    """What the report knows about one language pair: exact row count, sampled scores and texts."""
    pair: str
    rows: int
    scores: np.ndarray
    texts: pa.Table  # score, cosine, src_text, tgt_text; sorted best first


def ordered_stages(stages: dict) -> list[str]:
    rank = {stage: i for i, stage in enumerate(STAGE_ORDER)}
    return sorted(stages, key=lambda stage: (rank.get(stage, len(STAGE_ORDER)), stage))


def row_groups(paths: list[str]) -> list[tuple[str, int, int]]:
    """(path, row group, rows) of every row group of the files, from their footers only."""
    groups = []
    for path in paths:
        with FileSystems.open(path) as handle:
            meta = pq.ParquetFile(handle).metadata
        groups += [(path, i, meta.row_group(i).num_rows) for i in range(meta.num_row_groups)]
    return groups


def sample_rows(groups: list[tuple[str, int, int]], columns: list[str], limit: int) -> pa.Table:
    """At most `limit` rows of `columns`, spread over the groups.

    Groups are taken in a fixed pseudo-random order (so the sample is neither just the first files nor
    different on every run) until they hold `limit` rows; `limit` evenly spaced rows of those are kept.
    Reads `limit` rows plus one group at most.
    """
    order = np.random.default_rng(0).permutation(len(groups))
    chosen, rows = [], 0
    for i in order:
        if rows >= limit:
            break
        chosen.append(groups[i])
        rows += groups[i][2]
    wanted = min(rows, limit)
    keep = np.arange(wanted) * rows // max(wanted, 1)  # positions among the chosen groups' rows
    tables, seen = [], 0
    for path, in_file in groupby(sorted(chosen), key=lambda group: group[0]):
        with FileSystems.open(path) as handle:
            parquet = pq.ParquetFile(handle)
            for _path, index, n in in_file:
                table = parquet.read_row_group(index, columns=columns)
                tables.append(table.take(keep[(keep >= seen) & (keep < seen + n)] - seen))
                seen += n
    if not tables:
        return pa.table({column: pa.array([], pa.null()) for column in columns})
    return pa.concat_tables(tables)


def pair_sample(pair: str, paths: list[str]) -> PairSample:
    groups = row_groups(paths)
    scores = sample_rows(groups, ["score"], SCORE_SAMPLE).column("score").to_numpy(zero_copy_only=False)
    texts = sample_rows(groups, ["score", "cosine", "src_text", "tgt_text"], TEXT_SAMPLE)
    if texts.num_rows:
        texts = texts.sort_by([("score", "descending")])
    return PairSample(pair, sum(n for _p, _i, n in groups), scores.astype(float), texts)


def reject_examples(output_dir: str) -> dict[tuple[str, str], str]:
    """The first excerpt seen for each (stage, reason), reading at most REJECT_SCAN rows per stage."""
    examples: dict[tuple[str, str], str] = {}
    for stage, paths in dataset_parts(output_dir, "rejects").items():
        scanned = 0
        for path in paths:
            with FileSystems.open(path) as handle:
                for batch in pq.ParquetFile(handle).iter_batches(columns=["reason", "excerpt", "url"]):
                    columns = (batch.column(name).to_pylist() for name in ("reason", "excerpt", "url"))
                    for reason, excerpt, url in zip(*columns):
                        examples.setdefault((stage, reason), excerpt or url or "")
                    scanned += batch.num_rows
                    if scanned >= REJECT_SCAN:
                        break
            if scanned >= REJECT_SCAN:
                break
    return examples


# --- HTML pieces -------------------------------------------------------------------------------------

def esc(value) -> str:
    return html.escape(str(value), quote=True)


def cell(value, floats: str) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{esc('' if value is None else value)}</td>"
    if isinstance(value, int):
        return f'<td class="num">{value:,}</td>'
    if isinstance(value, float):
        return f'<td class="num">{value:{floats}}</td>'
    return f"<td>{esc(value)}</td>"


def table(headers: list[str], rows: list[list], css_class: str = "", floats: str = ".4f") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell(v, floats) for v in row) + "</tr>" for row in rows)
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def png(fig: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def bar_chart(labels: list[str], values: list[float], colours: list[str], xlabel: str, alt: str) -> str:
    """Horizontal bars, the first on top, each labelled with its value."""
    fig = Figure(figsize=(10, 0.5 + 0.32 * len(labels)))
    ax = fig.subplots()
    positions = np.arange(len(labels))[::-1]
    ax.barh(positions, values, color=colours)
    ax.set_yticks(positions, labels)
    ax.set_xlabel(xlabel)
    for y, value in zip(positions, values):
        label = f"{value:,.0f}" if value >= 10 or float(value).is_integer() else f"{value:.2f}"
        ax.annotate(label, (value, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.margins(x=0.12)
    return png(fig, alt)


# --- sections ----------------------------------------------------------------------------------------

def overview(output_dir: str, run: dict, samples: list[PairSample]) -> str:
    params = run.get("parameters", {})
    pairs = sum(sample.rows for sample in samples)
    cards = [("pairs mined", f"{pairs:,}"), ("language pairs", len(samples)),
             ("threshold", params.get("threshold")), ("encoder", params.get("encoder")),
             ("margin", params.get("margin")), ("retrieval", params.get("retrieval")), ("k", params.get("k")),
             ("runner", run.get("runner"))]
    shown = "".join(f'<div class="card"><span class="muted">{esc(name)}</span><b>{esc(value)}</b></div>'
                    for name, value in cards if value is not None)
    every = table(["parameter", "value"], [[k, json.dumps(v)] for k, v in sorted(params.items())])
    return (f"<h1>parabeam {esc(run.get('command', 'run'))} report</h1>"
            f'<p class="muted">{esc(output_dir)}</p><div class="cards">{shown}</div>'
            f"<details><summary>All parameters</summary>{every}</details>")


def funnel(stages: dict) -> str:
    """Records in and out of each stage (log scale: units differ, documents to pairs), and per language."""
    names = ordered_stages(stages)
    entering = [stages[s].get("produced", stages[s].get("in", 0)) for s in names]
    leaving = [stages[s].get("out", 0) for s in names]
    langs = sorted({lang for s in names if s != "bitext" for lang, counts in stages[s].get("by_lang", {}).items()
                    if counts.get("out")})
    fig = Figure(figsize=(11, 4.2))
    totals, per_lang = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.2]})
    y = np.arange(len(names))[::-1]
    totals.barh(y + 0.2, entering, 0.4, color=IN_COLOUR)
    totals.barh(y - 0.2, leaving, 0.4, color=OUT_COLOUR)
    totals.set_yticks(y, names)
    if max(entering + leaving, default=0) > 0:
        totals.set_xscale("log")
    totals.set_title("records per stage (light: in, dark: out)")
    lang_stages = [s for s in names if s != "bitext" and stages[s].get("by_lang")]
    for i, lang in enumerate(langs):
        counts = [stages[s]["by_lang"].get(lang, {}).get("out", 0) for s in lang_stages]
        per_lang.plot(lang_stages, [c if c else np.nan for c in counts], marker="o",
                      color=PALETTE[i % len(PALETTE)], label=lang)
    per_lang.set_title("records out per language")
    if langs:
        per_lang.set_yscale("log")
        per_lang.legend(ncols=min(len(langs), 6), fontsize=8)
    chart = png(fig, "records in and out of each stage, and out per language")
    dropped = [sum(sum(stages[s].get(kind, {}).values()) for kind in DROP_KINDS) for s in names]
    rows = [[s, stages[s].get("in", 0), stages[s].get("produced"), stages[s].get("out", 0), d]
            + [stages[s].get("by_lang", {}).get(lang, {}).get("out") for lang in langs]
            for s, d in zip(names, dropped)]
    return ('<h2 id="funnel">Stage funnel</h2><p class="muted">Each stage counts in its own units: '
            "documents, paragraphs, sentences, unique sentences, embeddings, pairs. "
            "<i>produced</i> is what a fanning-out stage made from its input.</p>" + chart
            + table(["stage", "in", "produced", "out", "dropped"] + [f"out {lang}" for lang in langs], rows))


def pairs_section(samples: list[PairSample], stages: dict) -> str:
    bitext = stages.get("bitext", {}).get("by_lang", {})
    rows = []
    for sample in samples:
        scored = bitext.get(sample.pair, {})
        rows.append([sample.pair, sample.rows, scored.get("in"), sum(scored.get("reject", {}).values()) or None,
                     float(np.median(sample.scores)) if sample.scores.size else None,
                     float(sample.scores.max()) if sample.scores.size else None])
    chart = bar_chart([s.pair for s in samples], [s.rows for s in samples],
                      [PALETTE[i % len(PALETTE)] for i in range(len(samples))], "pairs written",
                      "pairs written per language pair") if samples else "<p>No bitext was written.</p>"
    return ('<h2 id="pairs">Language pairs</h2>' + chart
            + table(["pair", "pairs written", "scored", "filtered out", "median score", "max score"], rows)
            + '<p class="muted">Scores are over a sample of at most '
            f"{SCORE_SAMPLE:,} pairs per language pair.</p>")


def read_choices(output_dir: str) -> dict[str, dict]:
    """DIR/thresholds.jsonl, per pair (absent in older runs and score runs: empty)."""
    path = FileSystems.join(output_dir, "thresholds.jsonl")
    if not FileSystems.exists(path):
        return {}
    with FileSystems.open(path) as handle:
        rows = [json.loads(line) for line in handle.read().decode("utf-8").splitlines() if line.strip()]
    return {row["pair"]: row for row in rows}


def _normal(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))


def thresholds_section(choices: dict[str, dict]) -> str:
    """Per pair: the threshold, how it was chosen and its estimated precision; and a plot of every best
    candidate's score (both directions, mined or not) with the fitted two-component mixture and the threshold."""
    if not choices:
        return ""
    rows = [[pair, c["threshold"], c["chosen"], c.get("estimated_precision"), c.get("best_candidates")]
            for pair, c in sorted(choices.items())]
    parts = ['<h2 id="thresholds">Thresholds</h2><p class="muted">Per language pair: the margin threshold, '
             "how it was chosen (auto: from the pair's own best candidates; fixed: --threshold or the encoder's "
             "default; default: too few scores to choose), and the precision of the best candidates above it as "
             "the fitted mixture estimates it (translations against the rest).</p>",
             table(["pair", "threshold", "chosen", "estimated precision", "best candidates"], rows, floats=".3f")]
    for i, (pair, choice) in enumerate(sorted(choices.items())):
        hist = choice.get("histogram") or {}
        if not hist.get("counts"):
            continue
        log_low, width = hist["log_low"], hist["bin"]
        centres = log_low + width * (np.asarray(hist["bins"]) + 0.5)
        counts = np.asarray(hist["counts"], dtype=float)
        # Bins of 0.01 in log score for the plot; the 0.5% highest scores are cut off as in the mined plot.
        coarse = np.round(centres / 0.01) * 0.01
        edges, inverse = np.unique(coarse, return_inverse=True)
        summed = np.bincount(inverse, weights=counts)
        cumulative = np.cumsum(summed) / summed.sum()
        shown = cumulative <= 0.995 + 1e-12
        shown[: max(1, int(np.argmax(cumulative > 0.995)) + 1)] = True
        fig = Figure(figsize=(11, 3.4))
        ax = fig.subplots()
        ax.bar(np.exp(edges[shown]), summed[shown], width=np.exp(edges[shown]) * 0.01,
               color=PALETTE[i % len(PALETTE)], alpha=0.6, label="best candidates (both directions)")
        mixture = choice.get("mixture")
        if mixture:
            x = np.linspace(edges[shown].min(), edges[shown].max(), 400)
            total = counts.sum() * 0.01
            for weight, mean, std, label in ((mixture["weight"], mixture["high_mean"], mixture["high_std"],
                                              "fitted: translations"),
                                             (1 - mixture["weight"], mixture["low_mean"], mixture["low_std"],
                                              "fitted: the rest")):
                ax.plot(np.exp(x), total * weight * _normal(x, mean, std), linewidth=1.5, label=label)
        precision = choice.get("estimated_precision")
        ax.axvline(choice["threshold"], color=THRESHOLD_COLOUR, linestyle="--", linewidth=2,
                   label=f"threshold {choice['threshold']:.3f} ({choice['chosen']}"
                         + (f", est. precision {precision:.3f})" if precision is not None else ")"))
        ax.set_xlabel("margin score")
        ax.set_ylabel("best candidates")
        ax.set_title(f"{pair}: every sentence's best candidate ({int(counts.sum()):,})")
        ax.legend(fontsize=8)
        fig.tight_layout()
        parts.append(f"<h3>{esc(pair)}</h3>" + png(fig, f"{pair} best-candidate scores, mixture and threshold"))
    return "".join(parts)


def distributions(samples: list[PairSample], threshold, per_pair: dict[str, float] | None = None) -> str:
    """Per pair: margin histogram with the threshold (the pair's own where chosen per pair), and source vs
    target length."""
    parts = ['<h2 id="scores">Scores and lengths</h2>']
    for i, sample in enumerate(samples):
        threshold_here = (per_pair or {}).get(sample.pair, threshold)
        if not isinstance(threshold_here, (int, float)):
            threshold_here = None
        colour = PALETTE[i % len(PALETTE)]
        fig = Figure(figsize=(11, 3.4))
        hist, lengths = fig.subplots(1, 2)
        if sample.scores.size:
            # Boilerplate pairs can score far above the rest; keep them from squashing the histogram.
            low, high = np.quantile(sample.scores, [0, 0.995])
            hist.hist(sample.scores, bins=50, range=(low, max(high, low + 1e-6)), color=colour)
            beyond = int((sample.scores > high).sum())
            if beyond:
                hist.annotate(f"{beyond:,} above {high:.3f} not shown", (0.98, 0.6), xycoords="axes fraction",
                              ha="right", fontsize=8)
        if threshold_here is not None:
            hist.axvline(threshold_here, color=THRESHOLD_COLOUR, linestyle="--", linewidth=2,
                         label=f"threshold {threshold_here:.4g}")
            hist.legend()
        hist.set_xlabel("margin score")
        hist.set_ylabel("pairs")
        hist.set_title(f"{sample.pair}: margin scores ({sample.scores.size:,} sampled)")
        if sample.texts.num_rows:
            src = pc.utf8_length(sample.texts.column("src_text")).to_numpy(zero_copy_only=False)
            tgt = pc.utf8_length(sample.texts.column("tgt_text")).to_numpy(zero_copy_only=False)
            lengths.scatter(np.maximum(src, 1), np.maximum(tgt, 1), s=6, alpha=0.4, color=colour)
            top = max(src.max(), tgt.max(), 2)
            lengths.plot([1, top], [1, top], color="#555", linestyle=":", linewidth=1, label="equal length")
            lengths.set_xscale("log")
            lengths.set_yscale("log")
            lengths.legend(loc="upper left")
        src_lang, _, tgt_lang = sample.pair.partition("-")
        lengths.set_xlabel(f"{src_lang} characters")
        lengths.set_ylabel(f"{tgt_lang} characters")
        lengths.set_title(f"{sample.pair}: lengths ({sample.texts.num_rows:,} sampled)")
        fig.tight_layout()
        parts.append(f"<h3>{esc(sample.pair)}</h3>" + png(fig, f"{sample.pair} margin score histogram and lengths"))
    return "".join(parts)


def sample_pairs(samples: list[PairSample]) -> str:
    """Highest, median and lowest (nearest the threshold) scoring pairs of each pair's text sample."""
    parts = ['<h2 id="samples">Sample pairs</h2><p class="muted">From a sample of at most '
             f"{TEXT_SAMPLE:,} pairs per language pair; texts cut at {EXCERPT_CHARS} characters.</p>"]
    for sample in samples:
        n = sample.texts.num_rows
        middle = max(0, n // 2 - SAMPLE_PAIRS // 2)
        picks: dict[int, str] = {}
        for label, indices in (("high", range(SAMPLE_PAIRS)), ("median", range(middle, middle + SAMPLE_PAIRS)),
                               ("near threshold", range(n - SAMPLE_PAIRS, n))):
            for index in indices:
                if 0 <= index < n:
                    picks.setdefault(index, label)
        rows = sample.texts.take(sorted(picks)).to_pylist() if picks else []
        parts.append(f"<h3>{esc(sample.pair)}</h3>" + table(
            ["where", "score", "cosine", "source", "target"],
            [[picks[index], row["score"], row["cosine"], row["src_text"][:EXCERPT_CHARS],
              row["tgt_text"][:EXCERPT_CHARS]] for index, row in zip(sorted(picks), rows)], "samples"))
    return "".join(parts)


def rejects_section(stages: dict, examples: dict[tuple[str, str], str]) -> str:
    names = ordered_stages(stages)
    rows = [[stage, kind, reason, n, examples.get((stage, reason), "")[:EXCERPT_CHARS]]
            for stage in names for kind in DROP_KINDS
            for reason, n in sorted(stages[stage].get(kind, {}).items(), key=lambda item: -item[1])]
    if not rows:
        return '<h2 id="rejects">Rejects</h2><p>No record was rejected, merged or skipped.</p>'
    colour = {stage: PALETTE[i % len(PALETTE)] for i, stage in enumerate(names)}
    chart = bar_chart([f"{stage}: {reason}" for stage, _k, reason, _n, _e in rows], [n for *_r, n, _e in rows],
                      [colour[stage] for stage, *_r in rows], "records", "dropped records by stage and reason")
    return ('<h2 id="rejects">Rejects</h2><p class="muted">Records each stage dropped, by reason. '
            "<i>merged</i> records were folded into an equal one; <i>skipped</i> ones were not content "
            "(e.g. WARC metadata). Examples are the first rejected rows found in DIR/rejects.</p>"
            + chart + table(["stage", "kind", "reason", "records", "example"], rows, "samples"))


def timings_section(timings: dict) -> str:
    names = list(timings)
    return ('<h2 id="timings">Timings</h2>'
            + bar_chart(names, [float(timings[n]) for n in names], [OUT_COLOUR] * len(names), "seconds",
                        "seconds per stage or phase")
            + table(["stage or phase", "seconds"], [[n, float(timings[n])] for n in names], floats=",.1f"))


def write_report(output_dir: str) -> str:
    """Write DIR/report.html for the finished run in `output_dir`; returns its path."""
    with FileSystems.open(FileSystems.join(output_dir, "run.json")) as handle:
        run = json.loads(handle.read())
    stages = run.get("stages", {})
    samples = [pair_sample(pair, paths) for pair, paths in dataset_parts(output_dir, "bitext").items()]
    threshold = run.get("parameters", {}).get("threshold")
    choices = read_choices(output_dir)
    per_pair = {pair: choice["threshold"] for pair, choice in choices.items()}
    sections = [overview(output_dir, run, samples), funnel(stages), pairs_section(samples, stages),
                thresholds_section(choices), distributions(samples, threshold, per_pair), sample_pairs(samples),
                rejects_section(stages, reject_examples(output_dir))]
    links = ["funnel", "pairs", "thresholds", "scores", "samples", "rejects"] if choices else \
        ["funnel", "pairs", "scores", "samples", "rejects"]
    if run.get("timings"):
        sections.append(timings_section(run["timings"]))
        links.append("timings")
    nav = "<nav>" + "".join(f'<a href="#{link}">{link}</a>' for link in links) + "</nav>"
    page = ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>parabeam report: {esc(output_dir)}</title><style>{CSS}</style></head>"
            f"<body><main>{sections[0]}{nav}{''.join(sections[1:])}</main></body></html>")
    path = FileSystems.join(output_dir, "report.html")
    with FileSystems.create(path, mime_type="text/html") as handle:
        handle.write(page.encode("utf-8"))
    return path
