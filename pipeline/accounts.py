"""Turn the job's counters into per-stage accounts, check in = out + rejects, and summarise them."""
from __future__ import annotations

from collections import defaultdict

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from parabeam.pipeline.layout import RunLayout
from parabeam.transforms.accounting import BUSY
from parabeam.transforms.stages import BY_NAME, DROP_KINDS, order


class AccountingError(RuntimeError):
    """A stage lost or invented records: in != out + rejects + merged + skipped."""


def read_counts(output: str) -> dict[str, int]:
    """The counts a finished job wrote (DIR/accounts/), `stage/what[/lang]` -> value."""
    totals: dict[str, int] = defaultdict(int)
    for path in sorted(m.path for m in FileSystems.match([FileSystems.join(RunLayout(output).accounts,
                                                                            "part-*.parquet")])[0].metadata_list):
        with FileSystems.open(path) as handle:
            for row in pq.read_table(handle).to_pylist():
                totals["/".join(filter(None, (row["stage"], row["what"], row["lang"])))] += row["n"]
    return dict(totals)


def stage_seconds(values: dict[str, int]) -> dict[str, float]:
    """Seconds of the bundles each stage ran in (accounting.BUSY), in pipeline order."""
    busy = {name.split("/")[0]: ms / 1000 for name, ms in values.items() if name.split("/")[1] == BUSY}
    return {stage: busy[stage] for stage in sorted(busy, key=order)}


def stage_accounts(values: dict[str, int]) -> dict[str, dict]:
    """{'lid': {'in': 10, 'out': 7, 'reject': {'too_short': 3}, 'by_lang': {'de': {'out': 4}}}, ...}; the
    stages' busy time is not a count (stage_seconds)."""
    stages: dict[str, dict] = {}
    for name, value in sorted(values.items(), key=lambda item: (order(item[0].split("/")[0]), item[0])):
        stage, what, *lang = name.split("/")
        if what == BUSY:
            continue
        account = stages.setdefault(stage, {"in": 0, "out": 0, **{kind: {} for kind in DROP_KINDS},
                                            "by_lang": {}})
        kind, _, reason = what.partition(":")
        targets = [account] + ([account["by_lang"].setdefault(lang[0], {})] if lang else [])
        for target in targets:
            if kind in DROP_KINDS:
                target.setdefault(kind, {})
                target[kind][reason] = target[kind].get(reason, 0) + value
            else:
                target[kind] = target.get(kind, 0) + value
    return stages


def imbalances(stages: dict[str, dict]) -> list[str]:
    """Stages whose records do not add up. `produced` replaces `in` for stages that fan out (splitting)."""
    problems = []
    for stage, account in stages.items():
        entering = account.get("produced", account["in"])
        leaving = account["out"] + sum(sum(account[kind].values()) for kind in DROP_KINDS)
        if entering != leaving:
            problems.append(f"{stage}: {entering} records entered but {leaving} are accounted for "
                            f"(out {account['out']}, " + ", ".join(
                                f"{kind} {sum(account[kind].values())}" for kind in DROP_KINDS) + ")")
    return problems


def summary_lines(stages: dict[str, dict]) -> list[str]:
    """One line per stage: records in and out, drops by reason, other counts (cache hits), output by language."""
    lines = []
    for stage, account in stages.items():
        drops = ", ".join(f"{reason} {n}" for kind in DROP_KINDS for reason, n in sorted(account[kind].items()))
        others = ", ".join(f"{kind} {value}" for kind, value in sorted(account.items())
                           if isinstance(value, int) and kind not in ("in", "out"))
        langs = " ".join(f"{lang}:{values.get('out', 0)}" for lang, values in sorted(account["by_lang"].items())
                         if values.get("out"))
        units = BY_NAME.get(stage)
        unit = f" {units.unit_in} -> {units.unit_out}" if units else ""
        lines.append(f"{stage:>14}: in {account['in']:>8}  out {account['out']:>8}" + (f"  {others}" if others else "")
                     + (f"  dropped: {drops}" if drops else "") + (f"  [{langs}]" if langs else "") + unit)
    return lines
