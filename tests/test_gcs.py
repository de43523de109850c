"""gs:// I/O through Beam's own gcsio against the GCS emulator: the path Dataflow runs take."""
from __future__ import annotations

from apache_beam.io.filesystems import FileSystems

LINES = ["Grüße aus Köln", "straße", "İstanbul'da bir gün", "ภาษาไทย", "plain ascii"]


def _write(path: str, data: bytes) -> None:
    with FileSystems.create(path) as handle:
        handle.write(data)


def test_filesystems_round_trip(gcs_dir):
    _write(f"{gcs_dir}/a.txt", b"first\n")
    _write(f"{gcs_dir}/b.txt", "zweite Zeile\n".encode())

    matched = {m.path: m.size_in_bytes for m in FileSystems.match([f"{gcs_dir}/*.txt"])[0].metadata_list}
    assert matched == {f"{gcs_dir}/a.txt": 6, f"{gcs_dir}/b.txt": 13}
    with FileSystems.open(f"{gcs_dir}/b.txt") as handle:
        assert handle.read().decode() == "zweite Zeile\n"

    FileSystems.delete([f"{gcs_dir}/a.txt"])
    assert [m.path for m in FileSystems.match([f"{gcs_dir}/*"])[0].metadata_list] == [f"{gcs_dir}/b.txt"]


def test_pipeline_reads_gcs_text_and_writes_gcs_parquet(gcs_dir, run_pipeline, toy_pipeline, read_parquet):
    _write(f"{gcs_dir}/in/part-0.txt", "\n".join(LINES[:2]).encode() + b"\n")
    _write(f"{gcs_dir}/in/part-1.txt", "\n".join(LINES[2:]).encode() + b"\n")

    run_pipeline(toy_pipeline(f"{gcs_dir}/in/*.txt", f"{gcs_dir}/out/lines"),
                 "local", ["--direct_running_mode=in_memory", "--direct_num_workers=1"])

    outputs = [m.path for m in FileSystems.match([f"{gcs_dir}/out/*"])[0].metadata_list]
    assert outputs and all(path.endswith(".parquet") for path in outputs)
    assert [row["line"] for row in read_parquet(f"{gcs_dir}/out/lines*")] == sorted(l.upper() for l in LINES)
