"""Approval before publishing (optional): an operator approves a partition from the Dagster UI.

Launch `approve_short_job` for the partition (or materialize `short_approval` on it) after watching the
short; with approval switched on (SHORTS_REQUIRE_APPROVAL=true) every `<platform>_post` refuses until then.
"""

from collections.abc import Iterator

from dagster import AssetExecutionContext, AssetIn, Config, MetadataValue, Output, asset, define_asset_job
from pydantic import Field

from pipeline_assets.partitions import source_videos
from resources.media.store import MediaStore, file_sha256
from resources.partition_keys import validate_partition_key
from resources.records import Approval, ShortVideo


class ApprovalConfig(Config):
    approved_by: str = Field(default="operator", description="Who approves (shown in the UI and the record).")
    note: str = ""


def approval_key(partition_key: str) -> str:
    return f"approvals/{validate_partition_key(partition_key)}.json"


def find_approval(store: MediaStore, partition_key: str, short_sha256: str) -> Approval | None:
    """The approval of exactly this short (by content), if an operator gave one."""
    text = store.read_text(approval_key(partition_key))
    approval = Approval.model_validate_json(text) if text else None
    return approval if approval is not None and approval.short_sha256 == short_sha256 else None


@asset(
    partitions_def=source_videos,
    group_name="approval",
    ins={"short_video": AssetIn("short_video")},
    kinds={"python"},
    description="An operator's approval of the finished short; materialize it to allow publishing.",
)
def short_approval(
    context: AssetExecutionContext, config: ApprovalConfig, short_video: ShortVideo, media_store: MediaStore
) -> Iterator[Output[Approval]]:
    record = Approval(
        partition_key=context.partition_key,
        short_sha256=file_sha256(media_store.local_path(short_video.uri)),
        approved_by=config.approved_by,
        note=config.note,
    )
    media_store.write_text(approval_key(context.partition_key), record.model_dump_json(indent=2))
    yield Output(
        record,
        metadata={
            "approved_by": record.approved_by,
            "short_sha256": record.short_sha256,
            "short": MetadataValue.path(short_video.uri.removeprefix("file://")),
        },
    )


approve_short_job = define_asset_job(
    name="approve_short_job",
    selection=[short_approval.key],
    partitions_def=source_videos,
    description="Approve one partition's short for publishing (when SHORTS_REQUIRE_APPROVAL is on).",
)
