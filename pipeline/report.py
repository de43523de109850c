"""`parabeam report`: one self-contained HTML page about a finished run, to judge it at a glance.

The page needs no server and loads nothing from outside: plots are PNGs embedded as data URIs, the
style sheet is inline, and there is no script. Counts come from DIR/run.json (exact). Plots and sample
pairs come from a bounded sample of the bitext: whole row groups spread over a pair's part files, picked
until they hold SCORE_SAMPLE rows (TEXT_SAMPLE for the text columns), then evenly spaced rows of those, so
memory and reading time stay bounded however large a pair is. Row counts per pair come from Parquet
metadata, so they are exact too.

Plots stay readable with many languages: per-language counts are a languages x stages heatmap, pair counts a
languages x languages heatmap, per-pair score histograms small multiples on one shared axis. Sample pairs
"just above" the threshold are the lowest-scoring pairs written (read exactly, row groups chosen by their
Parquet statistics), "just below" the highest-scoring ones of a below-threshold dataset when the run wrote one.
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
from matplotlib import colormaps
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from parabeam.pipeline.export import dataset_parts
from parabeam.transforms.stages import order as stage_order

DROP_KINDS = ("reject", "merged", "skipped")
SCORE_SAMPLE = 200_000
MAX_THRESHOLD_PLOTS = 8
TEXT_SAMPLE = 20_000
SAMPLE_PAIRS = 5
# Past this many language pairs, per-pair views become small multiples, a heatmap and collapsed tables.
MANY_PAIRS = 8
# Below-threshold candidates, when a run writes them: DIR/below_threshold/<src>-<tgt>/part-*.parquet with the
# bitext columns (score, cosine, src_text, tgt_text at least).
BELOW_DATASET = "below_threshold"
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
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:6px 10px;margin:8px 0}
details{margin:8px 0}
"""


@dataclass
class PairSample:
    """What the report knows about one language pair: exact row count, sampled scores and texts, and the
    rows nearest the threshold on each side (exact, not sampled)."""
    pair: str
    rows: int
    scores: np.ndarray
    texts: pa.Table  # score, cosine, src_text, tgt_text; sorted best first
    lowest: pa.Table | None = None   # the SAMPLE_PAIRS lowest-scoring pairs written, lowest first
    below: pa.Table | None = None    # the SAMPLE_PAIRS best below-threshold candidates, best first (None: none kept)
    below_scores: np.ndarray | None = None   # a sample of the below-threshold candidates' scores (None: none kept)


def ordered_stages(stages: dict) -> list[str]:
    """Pipeline order (the stage registry's, which imports nothing heavy); unknown stages last."""
    return sorted(stages, key=stage_order)


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


def extreme_rows(paths: list[str], columns: list[str], k: int, lowest: bool) -> pa.Table:
    """The k rows of lowest (or highest) `score` over the files, exactly, lowest (highest) first.

    Row groups are read in the order of their score statistics (min for lowest, max for highest) and reading
    stops once no unread group can beat the k-th row kept, so a large pair costs a few row groups, not a scan.
    """
    bounds = []
    for path in paths:
        with FileSystems.open(path) as handle:
            meta = pq.ParquetFile(handle).metadata
        where = meta.schema.to_arrow_schema().get_field_index("score")
        for i in range(meta.num_row_groups):
            if not meta.row_group(i).num_rows:
                continue
            stats = meta.row_group(i).column(where).statistics if where >= 0 else None
            known = stats is not None and stats.has_min_max
            bound = (stats.min if lowest else -stats.max) if known else -np.inf
            bounds.append((float(bound), path, i))
    kept: pa.Table | None = None
    order = [("score", "ascending" if lowest else "descending")]
    for bound, path, index in sorted(bounds):
        if kept is not None and kept.num_rows >= k:
            kth = kept.column("score")[k - 1].as_py()
            if (bound >= kth) if lowest else (bound >= -kth):
                break
        with FileSystems.open(path) as handle:
            group = pq.ParquetFile(handle).read_row_group(index, columns=columns)
        kept = group if kept is None else pa.concat_tables([kept, group.cast(kept.schema)])
        kept = kept.sort_by(order).slice(0, k)
    return kept if kept is not None else pa.table({column: pa.array([], pa.null()) for column in columns})


TEXT_COLUMNS = ["score", "cosine", "src_text", "tgt_text"]


def pair_sample(pair: str, paths: list[str], below_paths: list[str] | None = None) -> PairSample:
    groups = row_groups(paths)
    scores = sample_rows(groups, ["score"], SCORE_SAMPLE).column("score").to_numpy(zero_copy_only=False)
    texts = sample_rows(groups, TEXT_COLUMNS, TEXT_SAMPLE)
    if texts.num_rows:
        texts = texts.sort_by([("score", "descending")])
    rows = sum(n for _p, _i, n in groups)
    lowest = extreme_rows(paths, TEXT_COLUMNS, SAMPLE_PAIRS, lowest=True) if rows else None
    below, below_scores = None, None
    if below_paths is not None:
        below = extreme_rows(below_paths, TEXT_COLUMNS, SAMPLE_PAIRS, lowest=False)
        below_scores = sample_rows(row_groups(below_paths), ["score"], SCORE_SAMPLE).column("score").to_numpy(
            zero_copy_only=False).astype(float)
    return PairSample(pair, rows, scores.astype(float), texts, lowest, below, below_scores)


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


def collapsible(summary: str, content: str, open_: bool) -> str:
    return f"<details{' open' if open_ else ''}><summary>{esc(summary)}</summary>{content}</details>"


def png(fig: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def short(value: float) -> str:
    """A count in at most 4 characters: 950, 12k, 3.4M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            scaled = value / limit
            return f"{scaled:.1f}{suffix}" if scaled < 10 else f"{scaled:.0f}{suffix}"
    return f"{value:.0f}"


def bar_chart(labels: list[str], values: list[float], colours: list[str], xlabel: str, alt: str) -> str:
    """Horizontal bars, the first on top, each labelled with its value."""
    fig = Figure(figsize=(10, 0.6 + 0.3 * len(labels)))
    ax = fig.subplots()
    positions = np.arange(len(labels))[::-1]
    ax.barh(positions, values, color=colours)
    ax.set_yticks(positions, labels)
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.set_xlabel(xlabel)
    for y, value in zip(positions, values):
        label = f"{value:,.0f}" if value >= 10 or float(value).is_integer() else f"{value:.2f}"
        ax.annotate(label, (value, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.margins(x=0.12)
    return png(fig, alt)


def heatmap(ax, matrix: np.ndarray, rows: list[str], columns: list[str], label: str) -> None:
    """Counts as colours on a log scale (0 and missing: grey), each cell labelled with its count."""
    masked = np.ma.masked_invalid(np.where(matrix > 0, matrix, np.nan))
    cmap = colormaps["Blues"].with_extremes(bad="#eeeeee")
    top = float(masked.max()) if masked.count() else 1.0
    norm = LogNorm(vmin=1.0, vmax=max(top, 10.0))   # from one record: equal counts do not look like none
    image = ax.imshow(masked, cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(rows)), rows)
    fontsize = 8 if len(columns) <= 12 else 7
    for (i, j), value in np.ndenumerate(matrix):
        if np.isnan(value):
            continue
        dark = value > 0 and norm(value) > 0.6
        ax.text(j, i, short(value), ha="center", va="center", fontsize=fontsize,
                color="white" if dark else "#222")
    bar = ax.figure.colorbar(image, ax=ax, label=label, fraction=0.035, pad=0.02)
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: short(value)))
    bar.ax.yaxis.set_minor_formatter(NullFormatter())


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
    """Records in and out of each stage (log scale: units differ, documents to pairs), and per language a
    languages x stages heatmap of records out (lines on a log axis hide each other past a few languages)."""
    names = ordered_stages(stages)
    entering = [stages[s].get("produced", stages[s].get("in", 0)) for s in names]
    leaving = [stages[s].get("out", 0) for s in names]
    lang_stages = [s for s in names if s != "bitext" and stages[s].get("by_lang")]
    langs = sorted({lang for s in lang_stages for lang, counts in stages[s]["by_lang"].items() if counts.get("out")})
    # Languages ordered by what they bring to the last stage with languages, most first.
    last = lang_stages[-1] if lang_stages else None
    langs.sort(key=lambda lang: (-stages[last]["by_lang"].get(lang, {}).get("out", 0), lang) if last else lang)
    fig = Figure(figsize=(10, 0.9 + 0.45 * len(names)))
    totals = fig.subplots()
    y = np.arange(len(names))[::-1]
    totals.barh(y + 0.2, entering, 0.4, color=IN_COLOUR, label="in (produced)")
    totals.barh(y - 0.2, leaving, 0.4, color=OUT_COLOUR, label="out")
    for position, value in zip(list(y + 0.2) + list(y - 0.2), entering + leaving):
        if value:
            totals.annotate(f"{value:,}", (value, position), xytext=(3, 0), textcoords="offset points",
                            va="center", fontsize=8)
    totals.set_yticks(y, names)
    if max(entering + leaving, default=0) > 0:
        totals.set_xscale("log")
        totals.margins(x=0.15)
    totals.set_title("records per stage (light: in or produced, dark: out)")
    parts = [png(fig, "records in and out of each stage")]
    if langs:
        matrix = np.array([[float(stages[s]["by_lang"].get(lang, {}).get("out", 0)) for s in lang_stages]
                           for lang in langs])
        fig = Figure(figsize=(min(10, 2.5 + 1.4 * len(lang_stages)), 0.9 + 0.3 * len(langs)))
        ax = fig.subplots()
        heatmap(ax, matrix, langs, lang_stages, "records out")
        ax.set_title("records out per language and stage (log colour; grey: none)", fontsize=11)
        parts.append(png(fig, "records out per language and stage"))
    dropped = [sum(sum(stages[s].get(kind, {}).values()) for kind in DROP_KINDS) for s in names]
    rows = [[s, stages[s].get("in", 0), stages[s].get("produced"), stages[s].get("out", 0), d]
            for s, d in zip(names, dropped)]
    per_lang = table(["language"] + [f"out of {s}" for s in lang_stages],
                     [[lang] + [stages[s]["by_lang"].get(lang, {}).get("out") for s in lang_stages]
                      for lang in langs]) if langs else ""
    return ('<h2 id="funnel">Stage funnel</h2><p class="muted">Each stage counts in its own units: '
            "documents, paragraphs, sentences, unique sentences, embeddings, pairs. "
            "<i>produced</i> is what a fanning-out stage made from its input.</p>" + "".join(parts)
            + table(["stage", "in", "produced", "out", "dropped"], rows)
            + (collapsible(f"Records out per language ({len(langs)} languages)", per_lang, len(langs) <= 6)
               if langs else ""))


def pair_langs(pair: str) -> tuple[str, str]:
    src, _, tgt = pair.partition("-")
    return src, tgt


def pairs_section(samples: list[PairSample], stages: dict) -> str:
    """Pairs written per language pair: sorted bars for a few pairs; for many, a languages x languages heatmap
    and each language's total over its pairs."""
    bitext = stages.get("bitext", {}).get("by_lang", {})
    ranked = sorted(samples, key=lambda sample: (-sample.rows, sample.pair))
    rows = []
    for sample in ranked:
        scored = bitext.get(sample.pair, {})
        rows.append([sample.pair, sample.rows, scored.get("in"), sum(scored.get("reject", {}).values()) or None,
                     float(np.median(sample.scores)) if sample.scores.size else None,
                     float(sample.scores.max()) if sample.scores.size else None])
    if not samples:
        chart = "<p>No bitext was written.</p>"
    elif len(samples) <= MANY_PAIRS:
        chart = bar_chart([s.pair for s in ranked], [s.rows for s in ranked], [OUT_COLOUR] * len(ranked),
                          "pairs written", "pairs written per language pair, most first")
    else:
        langs = sorted({lang for s in samples for lang in pair_langs(s.pair)})
        where = {lang: i for i, lang in enumerate(langs)}
        matrix = np.full((len(langs), len(langs)), np.nan)
        per_lang = dict.fromkeys(langs, 0)
        for s in samples:
            src, tgt = pair_langs(s.pair)
            matrix[where[src], where[tgt]] = matrix[where[tgt], where[src]] = s.rows
            per_lang[src] += s.rows
            per_lang[tgt] += s.rows
        fig = Figure(figsize=(min(11, 2.5 + 0.55 * len(langs)), 1.2 + 0.45 * len(langs)))
        ax = fig.subplots()
        heatmap(ax, matrix, langs, langs, "pairs written")
        ax.set_title("pairs written per language pair (each pair in both halves; grey: not mined or none)",
                     fontsize=11)
        chart = png(fig, "pairs written per language pair, languages x languages")
        order = sorted(langs, key=lambda lang: (-per_lang[lang], lang))
        chart += bar_chart(order, [per_lang[lang] for lang in order], [OUT_COLOUR] * len(order),
                           "pairs written, summed over the language's pairs", "pairs written per language")
    listing = table(["pair", "pairs written", "scored", "filtered out", "median score", "max score"], rows)
    return ('<h2 id="pairs">Language pairs</h2>' + chart
            + collapsible(f"Every language pair ({len(samples)}), most pairs first", listing,
                          len(samples) <= MANY_PAIRS)
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
    rows = [[pair, c["threshold"], c["chosen"], c.get("estimated_precision"), c.get("best_candidates"),
             c.get("cosine_floor"), c.get("below_cosine_floor")] for pair, c in sorted(choices.items())]
    parts = ['<h2 id="thresholds">Thresholds</h2><p class="muted">Per language pair: the margin threshold, '
             "how it was chosen (auto: from the pair's own best candidates; fixed: --threshold or the encoder's "
             "default; default: too few scores to choose), and the precision of the best candidates above it as "
             "the fitted mixture estimates it (translations against the rest); with auto, the cosine floor the "
             "candidates above the threshold must reach (an outlier cut on their own cosines) and how many it "
             "dropped.</p>",
             table(["pair", "threshold", "chosen", "estimated precision", "best candidates", "cosine floor",
                    "below floor"], rows, floats=".3f")]
    if len(choices) > MAX_THRESHOLD_PLOTS:
        return "".join(parts) + (f"<p class=\"muted\">Best-candidate plots with the fitted mixture are drawn for up to "
                                 f"{MAX_THRESHOLD_PLOTS} pairs; the scores below show every pair.</p>")
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


def histogram_range(values: np.ndarray) -> tuple[float, float]:
    """The score range a histogram shows: everything, unless a few outliers (boilerplate pairs can score far
    above the rest) would squash it; then up to the 99.5th percentile, the rest counted in the last bar."""
    low, high = float(values.min()), float(values.max())
    if values.size >= 200:
        q_low, q_high = np.quantile(values, [0.005, 0.995])
        if high - q_high > q_high - q_low:
            high = float(q_high)
        if q_low - low > q_high - q_low:
            low = float(q_low)
    return low, max(high, low + 1e-6)


def score_histogram(ax, scores: np.ndarray, low: float, high: float, threshold: float | None, colour: str,
                    below: np.ndarray | None = None, bins: int = 40, legend: bool = True) -> None:
    """Scores of the pairs written (and, when the run kept them, of the candidates below the threshold) with
    the threshold. Values outside [low, high] go to the first or last bar, which then says so, so no pair
    is left out. Extensions (the threshold branch's fitted model) draw on the same axes after this."""
    edges = np.linspace(low, high, bins + 1)
    kept = np.clip(scores, low, high)
    ax.hist(kept, bins=edges, color=colour, label="written (above threshold)")
    if below is not None and below.size:
        ax.hist(np.clip(below, low, high), bins=edges, color="#bbbbbb", label="below threshold")
    over = int((scores > high).sum()) + (int((below > high).sum()) if below is not None else 0)
    if over:
        ax.annotate(f"last bar: +{over:,} up to {max(scores.max(), high):.3f}", (0.98, 0.96),
                    xycoords="axes fraction", ha="right", va="top", fontsize=7)
    ax.margins(y=0.12)
    if threshold is not None:
        ax.axvline(threshold, color=THRESHOLD_COLOUR, linestyle="--", linewidth=1.5,
                   label=f"threshold {threshold:.4g}")
    if legend:
        ax.legend(fontsize=8, loc="upper left")


def distributions(samples: list[PairSample], thresholds: dict[str, float | None], below_kept: bool) -> str:
    """All pairs' scores together with the threshold, then one small histogram per pair on a shared score
    axis (so pairs compare at a glance), then source vs target lengths."""
    parts = ['<h2 id="scores">Scores and lengths</h2>']
    with_scores = [s for s in samples if s.scores.size]
    if not with_scores:
        return parts[0] + "<p>No scores to show.</p>"
    pooled = np.concatenate([s.scores for s in with_scores])
    belows = [s.below_scores for s in with_scores if s.below_scores is not None and s.below_scores.size]
    pooled_below = np.concatenate(belows) if below_kept and belows else None
    low, high = histogram_range(pooled if pooled_below is None else np.concatenate([pooled, pooled_below]))
    distinct_all = {t for t in thresholds.values() if t is not None}
    common = next(iter(distinct_all)) if len(distinct_all) == 1 else None
    fig = Figure(figsize=(10, 3.2))
    ax = fig.subplots()
    score_histogram(ax, pooled, low, high, common, OUT_COLOUR, pooled_below, bins=60)
    ax.set_xlabel("margin score")
    ax.set_ylabel("pairs")
    ax.set_title(f"all {len(with_scores)} language pairs: margin scores ({pooled.size:,} sampled"
                 + (f", {pooled_below.size:,} below the threshold" if pooled_below is not None else "")
                 + ("" if common is not None or not distinct_all else "; thresholds differ per pair, see below")
                 + ")")
    parts.append(png(fig, "margin scores of every language pair together, with the threshold"))
    if not below_kept:
        parts.append('<p class="note">This run kept no candidates below the threshold, so the plots show only '
                     "the pairs written: the distribution of every candidate's best score, and where the "
                     "threshold cuts it, needs the job to write them too "
                     f"(DIR/{BELOW_DATASET}/&lt;pair&gt;/).</p>")
    columns = min(len(with_scores), 3) if len(with_scores) <= 9 else 5 if len(with_scores) <= 35 else 7
    rows_ = -(-len(with_scores) // columns)
    fig = Figure(figsize=(11, 0.6 + (2.4 if columns <= 3 else 1.7 if columns <= 5 else 1.45) * rows_),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows_, columns, sharex=True, squeeze=False)).ravel()
    for i, (ax, sample) in enumerate(zip(axes, with_scores)):
        score_histogram(ax, sample.scores, low, high, thresholds.get(sample.pair), OUT_COLOUR, sample.below_scores,
                        bins=30, legend=False)
        ax.set_title(f"{sample.pair} ({sample.rows:,})", fontsize=9, pad=2)
        ax.tick_params(labelsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    for ax in axes[len(with_scores):]:
        ax.set_visible(False)
    fig.suptitle("margin scores per language pair (shared score axis; red: threshold; grey: below it)",
                 fontsize=11)
    fig.supxlabel("margin score", fontsize=9)
    parts.append(png(fig, "margin score histogram per language pair"))
    with_texts = [s for s in samples if s.texts.num_rows]
    if with_texts:
        fig = Figure(figsize=(10, 3.6))
        ax = fig.subplots()
        top, bottom = 2, np.inf
        for i, sample in enumerate(with_texts):
            src = pc.utf8_length(sample.texts.column("src_text")).to_numpy(zero_copy_only=False)
            tgt = pc.utf8_length(sample.texts.column("tgt_text")).to_numpy(zero_copy_only=False)
            top = max(top, src.max(), tgt.max())
            bottom = min(bottom, max(min(src.min(), tgt.min()), 1))
            colour = PALETTE[i % len(PALETTE)] if len(with_texts) <= len(PALETTE) else OUT_COLOUR
            ax.scatter(np.maximum(src, 1), np.maximum(tgt, 1), s=6, alpha=0.4, color=colour,
                       label=sample.pair if len(with_texts) <= len(PALETTE) else None)
        ax.plot([bottom, top], [bottom, top], color="#555", linestyle=":", linewidth=1, label="equal length")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):   # 50, 100, not 5 x 10^1
            axis.set_major_formatter(FuncFormatter(lambda value, _pos: short(value)))
            axis.set_minor_formatter(FuncFormatter(lambda value, _pos: short(value) if f"{value:.0f}"[0] in "25"
                                                   else ""))
        ax.tick_params(which="minor", labelsize=7)
        ax.set_xlabel("source characters")
        ax.set_ylabel("target characters")
        ax.set_title(f"lengths of the sampled pairs ({sum(s.texts.num_rows for s in with_texts):,}"
                     + (", all language pairs" if len(with_texts) > len(PALETTE) else "") + ")")
        ax.legend(fontsize=8, loc="upper left", ncols=2)
        parts.append(png(fig, "source and target lengths of the sampled pairs"))
    return "".join(parts)


def sample_pairs(samples: list[PairSample], thresholds: dict[str, float | None], below_kept: bool) -> str:
    """Per pair: the highest and median pairs of the text sample, the pairs just above the threshold (the
    lowest written, exactly) and just below it (the best of the below-threshold candidates, when kept)."""
    parts = ['<h2 id="samples">Sample pairs</h2><p class="muted">"high" and "median" come from a sample of at '
             f"most {TEXT_SAMPLE:,} pairs per language pair; \"just above\" are the lowest-scoring pairs written "
             "(the closest to the threshold, read exactly); texts cut at "
             f"{EXCERPT_CHARS} characters.</p>"]
    if not below_kept:
        parts.append('<p class="note">No pairs just below the threshold: this run kept no candidates below it '
                     f"(DIR/{BELOW_DATASET}/&lt;pair&gt;/ is absent), so what the threshold dropped cannot be "
                     "shown.</p>")
    many = len(samples) > MANY_PAIRS
    if many:
        parts.append(closest_overall(samples, thresholds))
    for sample in samples:
        n = sample.texts.num_rows
        middle = max(0, n // 2 - SAMPLE_PAIRS // 2)
        picks: dict[int, str] = {}
        for label, indices in (("high", range(SAMPLE_PAIRS)), ("median", range(middle, middle + SAMPLE_PAIRS))):
            for index in indices:
                if 0 <= index < n:
                    picks.setdefault(index, label)
        rows = [[picks[index]] + [row[c] for c in TEXT_COLUMNS]
                for index, row in zip(sorted(picks), sample.texts.take(sorted(picks)).to_pylist() if picks else [])]
        shown = {(row[3], row[4]) for row in rows}
        for label, extra in (("just above", sample.lowest), ("just below", sample.below)):
            if extra is None or not extra.num_rows:
                continue
            ordered = extra.to_pylist()
            if label == "just above":
                ordered = ordered[::-1]   # highest first, down to the threshold
            for row in ordered:
                if label == "just below" or (row["src_text"], row["tgt_text"]) not in shown:
                    rows.append([label] + [row[c] for c in TEXT_COLUMNS])
        threshold = thresholds.get(sample.pair)
        headers = ["where", "score"] + (["− threshold"] if threshold is not None else []) + ["cosine", "source",
                                                                                             "target"]
        body = [[where, score] + ([score - threshold] if threshold is not None else [])
                + [cosine, (src or "")[:EXCERPT_CHARS], (tgt or "")[:EXCERPT_CHARS]]
                for where, score, cosine, src, tgt in rows]
        below_note = "" if sample.below is None or sample.below.num_rows or not below_kept else \
            '<p class="muted">No candidate below the threshold was kept for this pair.</p>'
        content = table(headers, body, "samples") + below_note
        title = f"{sample.pair}" + (f" (threshold {threshold:.4g})" if threshold is not None else "")
        parts.append(collapsible(title, content, open_=True) if not many
                     else collapsible(title, content, open_=False))
    return "".join(parts)


def closest_overall(samples: list[PairSample], thresholds: dict[str, float | None], n: int = 10) -> str:
    """With many pairs, the pairs written closest above their threshold over all language pairs, and the
    best ones below it when kept, in one open table, so they need not be looked for pair by pair."""
    rows = []
    for label, attribute in (("just above", "lowest"), ("just below", "below")):
        found = []
        for sample in samples:
            extra = getattr(sample, attribute)
            threshold = thresholds.get(sample.pair)
            for row in (extra.to_pylist() if extra is not None else []):
                gap = row["score"] - threshold if threshold is not None else row["score"]
                found.append((abs(gap), sample.pair, row, gap if threshold is not None else None))
        for _distance, pair, row, gap in sorted(found, key=lambda item: (item[0], item[1]))[:n]:
            rows.append([label, pair, row["score"], gap, row["cosine"], (row["src_text"] or "")[:EXCERPT_CHARS],
                         (row["tgt_text"] or "")[:EXCERPT_CHARS]])
    if not rows:
        return ""
    return (f"<h3>Closest to the threshold, over all {len(samples)} language pairs</h3>"
            + table(["where", "pair", "score", "− threshold", "cosine", "source", "target"], rows, "samples")
            + "<h3>Per language pair</h3>")


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


TOTAL_TIMING = "pipeline"


def timings_section(timings: dict) -> str:
    """What run.json's `timings` holds, and no more: the whole job's wall time (`pipeline`) and, where the
    job recorded them, seconds per stage, as sorted bars."""
    total = timings.get(TOTAL_TIMING)
    stages = {name: float(value) for name, value in timings.items() if name != TOTAL_TIMING}
    parts = ['<h2 id="timings">Timings</h2>']
    if total is not None:
        parts.append(f"<p>The whole job took <b>{float(total):,.1f} s</b> of wall time (building the graph, "
                     "running it, reading its accounts).</p>")
    if stages:
        ranked = sorted(stages, key=lambda name: -stages[name])
        parts.append(bar_chart(ranked, [stages[name] for name in ranked], [OUT_COLOUR] * len(ranked), "seconds",
                               "seconds per stage (worker time of the bundles it ran in), longest first"))
        share = f" ({sum(stages.values()) / float(total):.0%} of the total)" if total else ""
        parts.append(table(["stage", "seconds"], [[name, stages[name]] for name in ranked], floats=",.1f")
                     + f'<p class="muted">Stages together: {sum(stages.values()):,.1f} s{share}. A stage\'s time is the '
                     "worker time of the bundles it ran in, summed over workers: stages the runner fuses into one "
                     "bundle share that bundle's time, and parallel workers add up.</p>")
    else:
        parts.append('<p class="note">Per-stage times were not recorded for this run: the job reports only its '
                     "total. Beam's local runner gives no per-stage wall time, and the stages do not emit their "
                     "own; they would need to emit, with their counts, the seconds each bundle spent per stage "
                     "(summed into DIR/accounts like the counts), or the runner's per-step metrics (Dataflow's "
                     "wall time per step) copied into run.json's <code>timings</code>.</p>")
    return "".join(parts)


def run_thresholds(run: dict, pairs: list[str]) -> dict[str, float | None]:
    """Each pair's threshold: run.json's per-pair `thresholds` entry where the run chose one per pair
    ({"en-de": {"threshold": 1.3, ...}} or {"en-de": 1.3}), else the run's one numeric threshold."""
    default = run.get("parameters", {}).get("threshold")
    default = float(default) if isinstance(default, (int, float)) and not isinstance(default, bool) else None
    chosen = run.get("thresholds") or {}
    found = {}
    for pair in pairs:
        value = chosen.get(pair)
        if isinstance(value, dict):
            value = value.get("threshold")
        found[pair] = float(value) if isinstance(value, (int, float)) else default
    return found


def write_report(output_dir: str) -> str:
    """Write DIR/report.html for the finished run in `output_dir`; returns its path."""
    with FileSystems.open(FileSystems.join(output_dir, "run.json")) as handle:
        run = json.loads(handle.read())
    stages = run.get("stages", {})
    below = dataset_parts(output_dir, BELOW_DATASET)
    below_kept = bool(below)
    samples = [pair_sample(pair, paths, below.get(pair, []) if below_kept else None)
               for pair, paths in dataset_parts(output_dir, "bitext").items()]
    thresholds = run_thresholds(run, [sample.pair for sample in samples])
    choices = read_choices(output_dir)
    sections = [overview(output_dir, run, samples), funnel(stages), pairs_section(samples, stages),
                distributions(samples, thresholds, below_kept), thresholds_section(choices),
                sample_pairs(samples, thresholds, below_kept),
                rejects_section(stages, reject_examples(output_dir))]
    links = ["funnel", "pairs", "scores", "thresholds", "samples", "rejects"] if choices else \
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
