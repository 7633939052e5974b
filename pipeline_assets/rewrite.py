"""Stage 3, rewrite: `script`, an original narration plus the publishing texts."""

from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MetadataValue,
    Output,
)

from pipeline_assets.stage_runtime import StageRun, stage, usage_metadata
from resources.media.store import MediaStore
from resources.records import Script, SourceVideo, Transcript
from resources.rewrite import Rewriter
from resources.rewrite.local import NotOriginal
from resources.rewrite.originality import similarity

SCRIPT_CHECKS = [
    AssetCheckSpec("script_has_narration", asset="script", blocking=True, description="Hook and body present."),
    AssetCheckSpec(
        "script_is_original",
        asset="script",
        blocking=True,
        description="The script's word 3-grams are mostly not copied from the transcript.",
    ),
]


@stage(
    check_specs=SCRIPT_CHECKS,
    description="An original short script (hook, body, call to action, title, description, hashtags).",
)
def script(
    context: AssetExecutionContext,
    transcript: Transcript,
    source_video: SourceVideo,
    media_store: MediaStore,
    rewriter: Rewriter,
) -> Iterator[Output[Script] | AssetCheckResult]:
    run = StageRun(context, media_store)
    with run.failures():
        try:
            record = run.reuse_or_build(
                Script,
                [transcript, source_video.title, rewriter.model_dump()],
                lambda space: rewriter.rewrite(
                    transcript, source_title=source_video.title, source_uploader=source_video.uploader
                ),
            )
        except NotOriginal as exc:
            # Every offline phrasing was too close to the source: say how close, the bar, and the way out.
            raise Failure(
                description=f"script[{context.partition_key}]: {exc}",
                metadata={
                    "similarity_to_source": round(exc.similarity, 3),
                    "threshold": exc.threshold,
                    "switch to": "provider=openai (OpenAI, or base_url of Ollama, vLLM, llama.cpp)",
                    "error kind": type(exc).__name__,
                },
                allow_retries=False,
            ) from exc
    score = similarity(record.text, transcript.text)
    yield run.output(record, _metadata(record, score))
    yield from script_check_results(record, score, rewriter.max_similarity)


def script_check_results(record: Script, score: float, max_similarity: float) -> Iterator[AssetCheckResult]:
    """The two blocking checks on a script: it has narration, and it is not a copy of the transcript."""
    yield AssetCheckResult(
        check_name="script_has_narration",
        passed=bool(record.hook.strip()) and any(line.strip() for line in record.body),
        severity=AssetCheckSeverity.ERROR,
        metadata={"lines": len(record.lines), "word_count": record.word_count},
    )
    yield AssetCheckResult(
        check_name="script_is_original",
        passed=score < max_similarity,
        severity=AssetCheckSeverity.ERROR,
        metadata={"trigram_containment": round(score, 3), "threshold": max_similarity},
        description=None if score < max_similarity else "the script copies too much of the transcript",
    )


def _metadata(record: Script, score: float) -> dict[str, Any]:
    body = "\n".join(f"- {line}" for line in record.body)
    preview = (
        f"**{record.title}**\n\n*Hook:* {record.hook}\n\n{body}\n\n*CTA:* {record.call_to_action}\n\n"
        f"{' '.join('#' + tag for tag in record.hashtags)}"
    )
    return {
        **usage_metadata(record.usage),
        "word_count": record.word_count,
        "lines": len(record.lines),
        "similarity_to_source": round(score, 3),
        "provider": f"{record.provider} ({record.model})" if record.model else record.provider,
        "preview": MetadataValue.md(preview),
    }
