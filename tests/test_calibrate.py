"""`parabeam calibrate`: the curve from one low-threshold run, the choice of threshold, the BUCC files it
writes from parallel input, encoder profiles, and whole runs on a synthetic and a real BUCC-style set."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmarks import bucc
from parabeam.pipeline.calibrate import FLOOR, Point, bucc_set, choose, mined_pairs, plot_curve, sweep
from parabeam.pipeline.cli import main
from parabeam.pipeline.encoder_profiles import load_profile
from parabeam.transforms.margin import mine

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

GOLD = {("a", "x"), ("b", "y"), ("c", "z")}


def calibrate(output: Path, *argv: str) -> dict:
    """`parabeam calibrate` (Beam in one process: the inputs are small) -> its OUTPUT/calibration.json."""
    assert main(["calibrate", "--output", str(output), *argv, "--direct_running_mode=in_memory",
                 "--direct_num_workers=1"]) == 0
    return json.loads((output / "calibration.json").read_text())


def test_sweep_cuts_between_distinct_scores():
    scored = [("a", "x", 1.3), ("q", "w", 1.2), ("b", "y", 1.2), ("c", "z", 1.05), ("r", "v", 0.9)]
    curve = sweep(scored, GOLD)
    assert [p.threshold for p in curve] == pytest.approx([1.25, 1.125, 0.975, 0.8999])
    assert [p.mined for p in curve] == [1, 3, 4, 5]      # the tie at 1.2 is one cut
    assert curve[1] == pytest.approx(Point(1.125, 3, 2 / 3, 2 / 3, 2 / 3))
    assert curve[2].recall == 1 and curve[2].precision == 0.75
    # The cut keeping every pair: the largest 4-decimal threshold below the lowest score, as the table prints it.
    assert sweep([("a", "x", 1.23456)], GOLD)[-1].threshold == 1.2345
    assert sweep([("a", "x", 1.2)], GOLD)[-1].threshold == 1.1999


def test_choose_best_f1_or_most_recall_at_a_precision():
    curve = sweep([("a", "x", 1.3), ("q", "w", 1.2), ("b", "y", 1.1), ("c", "z", 1.0)], GOLD)
    assert choose(curve).mined == 4                        # F1 6/7 beats 4/5 at 3 pairs
    assert choose(curve, target_precision=0.7).mined == 4
    assert choose(curve, target_precision=1.0).mined == 1
    assert choose([], None) is None
    assert choose(sweep([("q", "w", 1.0)], GOLD), target_precision=0.5) is None


def test_the_curve_is_drawn_with_the_chosen_points(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    gold = {(f"s{i}", f"t{i}") for i in range(200)}
    scored = [(f"s{i}", f"t{i}", 1.2 + rng.exponential(0.2)) for i in range(200)]
    scored += [(f"s{i}", f"x{i}", 1.0 + rng.exponential(0.1)) for i in range(300)]
    curve = sweep(scored, gold)
    best, chosen = choose(curve), choose(curve, 0.99)
    path = plot_curve(curve, {"best F1": best, "chosen": chosen, "unreached": None}, str(tmp_path / "c.png"),
                      "de-en")
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert pixels.shape[1] > 900 and pixels.std() > 20
    near = lambda colour: (np.abs(pixels - colour).max(axis=-1) <= 16).sum()  # noqa: E731
    assert near((0x1f, 0x77, 0xb4)) > 500          # precision (both panels)
    assert near((0x2c, 0xa0, 0x2c)) > 100 and near((0xff, 0x7f, 0x0e)) > 100   # recall, F1
    assert near((0xd6, 0x27, 0x28)) > 100          # the marked cuts
    # The same cut chosen twice is one marker with both labels.
    plot_curve(curve, {"best F1": best, "chosen": best}, str(tmp_path / "same.png"), "de-en")


@pytest.mark.parametrize("retrieval", ["max", "fwd", "intersect"])
def test_one_low_threshold_run_holds_every_thresholds_pairs(retrieval):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 16)).astype(np.float32)
    y = np.concatenate([x[:30] + rng.normal(scale=0.6, size=(30, 16)), rng.normal(size=(40, 16))])
    x, y = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (x, y.astype(np.float32)))
    everything = mine(x, y, retrieval=retrieval, threshold=FLOOR)
    for threshold in sorted({p.score for p in everything})[::7]:
        expected = {(p.src, p.tgt) for p in everything if p.score > threshold}
        assert {(p.src, p.tgt) for p in mine(x, y, retrieval=retrieval, threshold=threshold)} == expected


def test_bucc_set_drops_repeats_and_keeps_gold_aligned():
    parallel = [("Hallo.", "Hello."), ("Ja", "Yes"), ("Hallo. ", "Hi."), ("", "Empty."), ("Nein", "No")]
    src, tgt, gold = bucc_set("de", "en", parallel, ["Ja", "Haus", "Haus", " "], ["Tree", "No"])
    texts = dict(src) | dict(tgt)
    assert sorted((texts[s], texts[t]) for s, t in gold) == [("Hallo.", "Hello."), ("Ja", "Yes"),
                                                           ("Nein", "No")]
    assert sorted(text for _, text in src) == ["Hallo.", "Haus", "Ja", "Nein"]
    assert sorted(text for _, text in tgt) == ["Hello.", "No", "Tree", "Yes"]
    assert [ident for ident, _ in src] == ["de-000001", "de-000002", "de-000003", "de-000004"]


def test_profiles_are_checked(tmp_path):
    good = {"encoder": "muse", "threshold": 1.1, "margin": "ratio", "k": 4, "retrieval": "max", "f1": 0.9}
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(good))
    assert load_profile(str(tmp_path / "good.yaml")) == good
    for bad in ({**good, "threshold": "high"}, {**good, "margin": "cosine"}, {**good, "encoder": "nope"},
                {key: value for key, value in good.items() if key != "k"}, ["muse"]):
        (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
        with pytest.raises(ValueError):
            load_profile(str(tmp_path / "bad.yaml"))
    with pytest.raises(ValueError, match="cannot read"):
        load_profile(str(tmp_path / "absent.yaml"))


def test_conflicting_inputs_are_refused(tmp_path, capsys):
    common = ["calibrate", "--output", str(tmp_path / "o"), "--src-lang", "de", "--tgt-lang", "en",
              "--src-parallel", "a", "--tgt-parallel", "b"]
    assert main([*common, "--gold", "g"]) == 2
    assert "either" in capsys.readouterr().err
    assert main([*common, "--threshold", "1.1"]) == 2
    assert "parabeam calibrate does not take --threshold" in capsys.readouterr().err


SYNTHETIC = [("Der Hund schläft im Garten.", "The dog is sleeping in the garden."),
             ("Ich trinke jeden Morgen Kaffee.", "I drink coffee every morning."),
             ("Der Zug nach Berlin hat Verspätung.", "The train to Berlin is delayed."),
             ("Meine Schwester wohnt in Kanada.", "My sister lives in Canada."),
             ("Das Museum ist montags geschlossen.", "The museum is closed on Mondays."),
             ("Wir haben gestern Fußball gespielt.", "We played football yesterday.")]
DE_ONLY = ["Die Steuererklärung muss bis Juli abgegeben werden.", "Der Bäcker verkauft frische Brötchen.",
           "Im Winter schneit es in den Alpen oft.", "Das Konzert wurde wegen Regen abgesagt.",
           "Mein Computer startet sehr langsam.", "Die Katze jagt eine Maus.",
           "Das Rathaus wurde im Jahr 1900 gebaut.", "Sie liest gern Kriminalromane."]
EN_ONLY = ["The stock market fell sharply on Friday.", "Please turn off the lights when you leave.",
           "The hospital needs more nurses.", "He forgot his umbrella on the bus.",
           "Volcanoes can erupt without warning.", "Our flight was cancelled because of fog.",
           "She paints portraits of old fishermen.", "The recipe calls for three eggs."]


def test_synthetic_run_finds_the_pairs_and_saves_a_profile(tmp_path, capsys):
    files = {}
    for name, lines in (("de", [s for s, _ in SYNTHETIC]), ("en", [t for _, t in SYNTHETIC]),
                        ("de_only", DE_ONLY), ("en_only", EN_ONLY)):
        files[name] = tmp_path / name
        files[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    result = calibrate(out, "--src-lang", "de", "--tgt-lang", "en",
                       "--src-parallel", str(files["de"]), "--tgt-parallel", str(files["en"]),
                       "--src-distractors", str(files["de_only"]), "--tgt-distractors", str(files["en_only"]),
                       "--save", str(tmp_path / "muse-de.yaml"))
    assert result["data"]["gold_pairs"] == 6 and result["data"]["src_count"] == 14
    assert result["best_f1"]["f1"] == 1.0
    lowest = min(score for _src, _tgt, score in mined_pairs(str(out), "de-en"))
    assert len(result["curve"]) > 3 and lowest - 1e-4 <= result["curve"][-1]["threshold"] < lowest   # keeps all
    profile = load_profile(str(tmp_path / "muse-de.yaml"))
    assert profile["threshold"] == result["chosen"]["threshold"] and profile["f1"] == 1.0
    assert (profile["encoder"], profile["k"], profile["margin"], profile["retrieval"]) == ("muse", 4, "ratio", "max")
    assert (out / "run.json").is_file() and (out / "calibration" / "de-en.gold").is_file()
    assert result["plot"] == str(out / "calibration.png") and (out / "calibration.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "best F1, chosen" in printed
    table = [line.split() for line in printed.splitlines() if re.match(r" *-?\d+\.\d{4} +\d+ ", line)]
    assert len(table) > 3 and all(abs(float(row[0])) < 10 for row in table)   # no FLOOR sentinel among them


@pytest.mark.skipif(not DATA.is_dir(), reason="shared data absent")
def test_bucc_set_with_gold_file(tmp_path):
    src, tgt, gold = bucc.build("fr-en", 25, 175, seed=1, data=DATA)
    paths = {}
    for name, rows in (("fr", src), ("en", tgt), ("gold", sorted(gold))):
        paths[name] = tmp_path / name
        paths[name].write_text("".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
    result = calibrate(tmp_path / "run", "--src-lang", "fr", "--tgt-lang", "en",
                       "--src-sentences", str(paths["fr"]), "--tgt-sentences", str(paths["en"]),
                       "--gold", str(paths["gold"]), "--target-precision", "0.9")
    assert result["data"]["gold_pairs"] == 25 and result["data"]["parallel_share"] == 0.125
    assert result["chosen"]["precision"] >= 0.9 and result["chosen"]["recall"] >= 0.6
    assert result["best_f1"]["f1"] >= result["chosen"]["f1"]
    # The lowest cut keeps every pair the run mined.
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert result["curve"][-1]["mined"] == run["stages"]["bitext"]["out"] > 100
