"""The command line tells the truth: bad options, inputs, encoders and languages are one-line errors (exit 2)
before anything runs; a run that read nothing fails; Ctrl-C is one line (exit 130) and the rerun works;
Beam stays quiet; help shows the real defaults. Each case goes through `parabeam.pipeline.cli.main` or the
real command in a subprocess."""
from __future__ import annotations

import argparse
import gzip
import signal
import subprocess
import sys
import time

import pytest

pytest.register_assert_rewrite("tests.crawl_fixtures")

from parabeam.pipeline.cli import build_parser, main
from tests.crawl_fixtures import (DEMO, any_file_under, kill_when, mine_args, run_json, start_cli, topic_pages,
                                  write_wet_shard)
from tests.helpers import REPO

# A run refused before the job starts takes a second or two; starting Beam's workers takes far longer.
REFUSED_WITHIN_S = 15
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489") + bytes(64)


def error_line(capsys) -> str:
    """The one stderr line of a refused command (no traceback, no usage block)."""
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("parabeam: error: "), err
    return err


def refused(argv: list[str], capsys) -> str:
    """Run a command that must be refused quickly with exit 2; returns its error line."""
    started = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - started < REFUSED_WITHIN_S
    return error_line(capsys)


def test_a_misspelt_option_is_refused_with_a_suggestion(tmp_path, capsys):
    output = tmp_path / "o"
    assert "unknown option --treshold: did you mean --threshold?" in refused(
        mine_args([DEMO], output, "en,de", "--treshold", "1.3"), capsys)
    assert "did you mean --direct_num_workers?" in refused(
        mine_args([DEMO], output, "en,de", "--direct-num-workers", "1"), capsys)
    assert "unknown option --frobnicate" in refused(mine_args([DEMO], output, "en,de", "--frobnicate"), capsys)
    assert "unexpected argument 'fr'" in refused(mine_args([DEMO], output, "en,de", "fr"), capsys)
    assert "invalid int value" in refused(mine_args([DEMO], output, "en,de", "--direct_num_workers", "x"), capsys)
    assert not output.exists()


def test_options_a_command_ignores_are_not_offered(tmp_path, capsys):
    args = ["score", "--bitext", DEMO, "--src-lang", "de", "--tgt-lang", "en", "--output", str(tmp_path / "o")]
    for option in ("--threshold", "--retrieval"):
        assert f"parabeam score does not take {option} (`parabeam mine` does)" in refused(args + [option, "1"], capsys)


@pytest.mark.parametrize("pattern", ["nothere.wet", "*.nothing"])
def test_inputs_that_match_nothing_are_refused_before_the_job_starts(tmp_path, capsys, pattern):
    output = tmp_path / "o"
    assert "--input matches no file" in refused(mine_args([str(tmp_path / pattern)], output, "en,de"), capsys)
    assert not output.exists()


def test_a_missing_sentence_file_is_refused(tmp_path, capsys):
    argv = ["mine", "--src-sentences", str(tmp_path / "de.txt"), "--src-lang", "de", "--tgt-sentences",
            str(tmp_path / "en.txt"), "--tgt-lang", "en", "--output", str(tmp_path / "o")]
    assert "--src-sentences: no such file" in refused(argv, capsys)


def test_a_language_the_encoder_was_not_trained_on_is_refused(tmp_path, capsys):
    error = refused(mine_args([DEMO], tmp_path / "o", "en,sw"), capsys)
    assert "not trained on sw" in error and "--allow-untrained-langs" in error


def test_hf_encoder_on_a_folder_without_a_model_is_one_line(tmp_path, capsys):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "notes.txt").write_text("weights went elsewhere")
    assert "not a Hugging Face model folder" in refused(
        mine_args([DEMO], tmp_path / "o", "en,de", "--encoder", f"hf:{folder}"), capsys)


def test_a_shell_expanded_glob_is_every_input_and_untrained_languages_can_be_allowed(tmp_path, capfd):
    """`--input /data/*` unquoted: the shell passes two paths after one --input. With sw allowed, the run
    warns once and records it; nothing else reaches the terminal but parabeam's own lines."""
    shards = [tmp_path / "crawl" / f"{topic}.warc.wet.gz" for topic in ("river", "bakery")]
    for shard in shards:
        write_wet_shard(shard, topic_pages(shard.name.split(".")[0]))
    output = tmp_path / "o"
    assert main(["mine", "--input", *map(str, shards), "--langs", "de,en,sw", "--allow-untrained-langs",
                 "--output", str(output)]) == 0
    run = run_json(output)
    assert run["parameters"]["inputs"] == [str(shard) for shard in shards]
    assert run["parameters"]["untrained_langs"] == ["sw"]
    assert run["stages"]["read"]["out"] == 2 * 3      # three pages per topic, one per language
    err = capfd.readouterr().err
    assert err.splitlines() == ["parabeam: warning: encoder muse was not trained on sw: expect wrong pairs above "
                                "the threshold"]


def test_input_nothing_could_be_read_from_fails_the_run(tmp_path, capsys):
    png = tmp_path / "image.warc.wet.gz"
    png.write_bytes(gzip.compress(PNG))
    output = tmp_path / "o"
    assert main(mine_args([str(png)], output, "en,de")) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("parabeam: error: nothing could be read from the input (") and "--overwrite" in err[-1]
    assert run_json(output)["stages"]["read"]["out"] == 0


def test_ctrl_c_is_one_line_and_exit_130_and_the_same_command_then_finishes(tmp_path):
    output, log = tmp_path / "o", tmp_path / "interrupted.log"
    argv = mine_args([DEMO], output, "de,en")
    proc = start_cli(argv, log)
    kill_when(proc, any_file_under(output), log, signal.SIGINT)
    assert proc.returncode == 130
    assert log.read_text().splitlines() == [
        "parabeam: interrupted; rerun the same command to resume (it clears this run's partial output and redoes it)"]
    assert not (output / "run.json").exists()
    assert main(argv) == 0
    assert run_json(output)["stages"]["bitext"]["out"] == 20


def _rendered_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    return parser._get_formatter()._expand_help(action) if action.help else ""


def test_help_shows_every_real_default():
    """Every option with a default names it in its help, for every command."""
    _parser, commands = build_parser()
    for name, command in commands.items():
        for action in command._actions:
            if action.default in (None, False, [], "", argparse.SUPPRESS) or action.dest == "help":
                continue
            assert str(action.default) in _rendered_help(command, action), (name, action.dest)


def test_help_gives_units_formats_and_the_worker_count(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["mine", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for expected in ("--direct_num_workers N", "1.40 for muse", "(default 0.5)", "source URLs kept per unique "
                     "sentence (default 5)", "KB, MB, GB or TB", "(default 8GB)", "(default 20000)",
                     "parabeam-embedding-cache beside DIR"):
        assert expected in text, expected
    _parser, commands = build_parser()
    assert not {"--threshold", "--retrieval", "--max-score"} & set(commands["score"]._option_string_actions)
    assert "--threshold" not in commands["calibrate"]._option_string_actions   # it chooses the threshold itself


def test_help_of_the_installed_command_writes_nothing_to_stderr():
    """Nothing Beam logs while it is imported reaches the terminal."""
    done = subprocess.run([sys.executable, "-m", "parabeam.pipeline.cli", "mine", "--help"], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0 and "--input PATTERN" in done.stdout and done.stderr == ""


def test_limit_reads_at_most_n_documents_of_each_file_for_a_quick_trial(tmp_path):
    output = tmp_path / "o"
    assert main(mine_args([DEMO], output, "de,en", "--limit", "6")) == 0
    run = run_json(output)
    assert run["parameters"]["limit"] == 6 and run["stages"]["read"]["out"] == 6
    assert main(mine_args([DEMO], tmp_path / "o2", "de,en", "--limit", "0")) == 2
