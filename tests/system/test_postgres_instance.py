"""The production storage: runs and materializations on the real PostgreSQL server (dagster-postgres)."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, instance_for_test

from resources.media.store import MediaStore
from tests.graph import materialize_partition
from tests.system.daemon import postgres_overrides

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}

pytestmark = pytest.mark.postgres


def test_runs_and_materializations_persist_in_postgres(postgres_db: str, tmp_path: Path, sample_video: Path) -> None:
    store = MediaStore(root=str(tmp_path / "media"))
    key = "file-pgtest"
    with instance_for_test(overrides=postgres_overrides(postgres_db)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = materialize_partition(
            ["source_video", "transcript"], key, store, source=str(sample_video), instance=instance
        )
        run_id = result.run_id
    # A second instance on the same database sees everything: nothing lived in process memory.
    with instance_for_test(overrides=postgres_overrides(postgres_db)) as reopened:
        assert isinstance(reopened, DagsterInstance)
        run = reopened.get_run_by_id(run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        assert reopened.get_dynamic_partitions("source_videos") == [key]
        event = reopened.get_latest_materialization_event(AssetKey("transcript"))
        assert event is not None and event.asset_materialization is not None
        assert event.asset_materialization.partition == key
        assert event.asset_materialization.metadata["word_count"].value > 10
    with psycopg2.connect(**{**PG, "dbname": postgres_db}) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM runs WHERE run_id = %s", (run_id,))
        assert cursor.fetchone() == (1,)
