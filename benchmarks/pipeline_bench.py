"""Per-stage seconds of the demo: the whole chain on the offline engines, fresh data folder, one run.

Run: .venv/bin/python -m benchmarks.pipeline_bench
Prints `stage_<asset>_seconds` for each stage, `stage_total_seconds`, and the short's `short_duration_seconds`
(so the cost per second of finished video can be read off).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from dagster import DagsterInstance

from cli.sample_source import make_sample_source
from definitions import build_definitions
from resources.catalog import PARTITIONS_NAME, STAGES, chain_assets
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.partition_keys import key_for_file
from resources.records import ShortVideo, SourceRequest
from resources.settings import PipelineSettings


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = PipelineSettings(data_dir=str(Path(tmp) / "data"), local_source_roots=tmp)
        sample = make_sample_source(Path(tmp) / "sample.mp4")
        key = key_for_file(sample)
        defs = build_definitions(settings)
        store = MediaStore.from_settings(settings)
        register_source(store, SourceRequest(partition_key=key, source=str(sample)))
        instance = DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(PARTITIONS_NAME, [key])
        started = time.perf_counter()
        result = defs.resolve_job_def("short_pipeline_job").execute_in_process(
            instance=instance,
            partition_key=key,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        total = time.perf_counter() - started
        elapsed: dict[str, float] = {}
        for node in chain_assets():
            for mat in result.asset_materializations_for_node(node):
                value = mat.metadata["elapsed_s"].value
                elapsed[node] = float(value) if isinstance(value, int | float) else 0.0
        short = result.output_for_node("short_video")
        assert isinstance(short, ShortVideo)
    for stage in STAGES:
        print(f"stage_{stage}_seconds: {elapsed.get(stage, 0.0):.2f}")
    publish = sum(value for name, value in elapsed.items() if name.endswith("_post"))
    print(f"stage_publish_all_seconds: {publish:.2f}")
    print(f"stage_total_seconds: {total:.2f}")
    print(f"short_duration_seconds: {short.facts.duration_s:.2f}")


if __name__ == "__main__":
    main()
