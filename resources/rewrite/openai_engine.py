"""OpenAI chat with structured output (also Ollama, vLLM, any OpenAI-compatible `base_url`).

The prompts are two editable Markdown templates (`prompts/system.md`, `prompts/user.md`, or the same names in
`prompt_dir`). The model answers the script's fields as JSON under a strict schema; the answer is checked
(refusal, schema, length, originality) and, when unusable, asked for once more with what was wrong.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.completion_usage import CompletionUsage
from pydantic import BaseModel, Field, ValidationError

from resources.errors import ConfigurationError, ProviderError
from resources.http.checkpoint import active_checkpoint
from resources.http.openai_api import call_openai, openai_client
from resources.http.retry import with_retries
from resources.records import Script, Transcript
from resources.rewrite.originality import similarity
from resources.rewrite.script_parts import fit_title, normalise_hashtags, with_credit
from resources.usage import Usage, priced

if TYPE_CHECKING:
    from resources.rewrite.rewriter import Rewriter

PROMPTS_DIR = Path(__file__).parent / "prompts"
# Models overshoot word limits a little; past this factor the narration no longer fits the short.
WORD_SLACK = 1.3
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class ScriptDraft(BaseModel):
    """A narration script for a short vertical video, with its post texts."""

    # The docstring and field descriptions go to the model inside the strict JSON schema: write them for it.

    title: str = Field(description="Video title, at most 90 characters.")
    hook: str = Field(description="One short opening sentence (at most 12 words) that stops the scroll.")
    body: list[str] = Field(description="Body lines spoken in order after the hook.")
    call_to_action: str = Field(description="One closing sentence inviting the viewer to follow or comment.")
    description: str = Field(description="Two or three sentences for the post's description.")
    hashtags: list[str] = Field(description="3-6 lowercase words, letters and digits only, without '#'.")


def fill(template: str, values: dict[str, str]) -> str:
    """`template` with its `{name}` placeholders replaced; unknown names and other braces are left as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def load_prompts(prompt_dir: str) -> tuple[str, str]:
    """(system, user) templates from `prompt_dir`, or the bundled ones when it is empty."""
    folder = Path(prompt_dir).expanduser() if prompt_dir else PROMPTS_DIR
    texts: list[str] = []
    for name in ("system.md", "user.md"):
        path = folder / name
        if not path.is_file():
            raise ConfigurationError(
                f"rewrite: prompt_dir {folder} has no {name}; copy both templates from {PROMPTS_DIR} and edit them"
            )
        texts.append(path.read_text(encoding="utf-8"))
    if "{transcript}" not in texts[1]:
        raise ConfigurationError(f"rewrite: {folder / 'user.md'} has no {{transcript}} placeholder; add it")
    return texts[0], texts[1]


def _usage(usage: CompletionUsage | None) -> list[Usage]:
    if usage is None:
        return []
    return [priced("openai", {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens})]


class OpenAIRewriteEngine:
    """A script from `chat.completions.parse` with the ScriptDraft schema; one corrective retry."""

    name = "openai"

    def __init__(self, settings: Rewriter) -> None:
        self.settings = settings
        self.model = settings.openai_model

    def rewrite(self, transcript: Transcript, *, source_title: str = "", source_uploader: str = "") -> Script:
        """An original script for `transcript`; ProviderError naming what was wrong after two unusable answers."""
        system, user = load_prompts(self.settings.prompt_dir)
        client, api_key = openai_client(
            api_key_env=self.settings.api_key_env,
            base_url=self.settings.base_url,
            timeout_s=self.settings.timeout_s,
            stage="rewrite",
        )
        values = {
            "transcript": transcript.text,
            "source_title": source_title or "(unknown)",
            "source_uploader": source_uploader or "(unknown)",
            "max_words": str(self.settings.max_words),
            "max_body_lines": str(self.settings.max_body_lines),
            "channel_topic": self.settings.channel_topic or "(any)",
        }
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": fill(system, values)},
            {"role": "user", "content": fill(user, values)},
        ]
        usage: list[Usage] = []
        problems: list[str] = []
        for attempt in (1, 2):
            draft, answer, problems = self._ask(client, api_key, messages, transcript.text, usage, attempt)
            if draft is not None and not problems:
                return self._script(draft, usage, source_title, source_uploader)
            # The model sees its own answer and what was wrong with it, and tries once more.
            if answer:
                messages = [*messages, {"role": "assistant", "content": answer}]
            messages = [
                *messages,
                {
                    "role": "user",
                    "content": "Your answer was rejected: "
                    + "; ".join(problems)
                    + ". Write the script again, fixing exactly that, with the same JSON fields.",
                },
            ]
        raise ProviderError(
            f"rewrite: OpenAI {self.model} gave no usable script in 2 tries: {'; '.join(problems)}. "
            "Edit the prompt templates (prompt_dir), try another openai_model, or use provider=local"
        )

    def _ask(
        self,
        client: openai.OpenAI,
        api_key: str,
        messages: list[ChatCompletionMessageParam],
        transcript_text: str,
        usage: list[Usage],
        attempt: int,
    ) -> tuple[ScriptDraft | None, str, list[str]]:
        """(parsed draft, raw answer text, problems) for one request; HTTP failures retried by with_retries.

        Every attempt is billed, so each is counted in the stage's checkpoint (per answer) and bounded there.
        """
        what = f"rewrite: OpenAI {self.model} (answer {attempt}/2)"
        checkpoint = active_checkpoint()
        try:
            completion = with_retries(
                lambda: call_openai(
                    lambda: checkpoint.paid(
                        f"chat answer {attempt}/2",
                        what,
                        lambda: client.chat.completions.parse(
                            model=self.model,
                            messages=messages,
                            response_format=ScriptDraft,
                            temperature=self.settings.temperature,
                        ),
                    ),
                    what=what,
                    api_key=api_key,
                ),
                what=what,
            )
        except openai.LengthFinishReasonError as exc:
            usage.extend(_usage(exc.completion.usage))
            return None, "", ["the answer was cut off at the token limit; write a shorter script"]
        except openai.ContentFilterFinishReasonError:
            return None, "", ["the answer was stopped by the content filter"]
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "answer"
            return None, "", [f"the answer is not valid script JSON ({where}: {first['msg']})"]
        usage.extend(_usage(completion.usage))
        message = completion.choices[0].message
        if message.parsed is None:
            reason = f"the model refused: {message.refusal}" if message.refusal else "the answer was empty"
            return None, message.refusal or "", [reason]
        return message.parsed, message.content or "", self._problems(message.parsed, transcript_text)

    def _problems(self, draft: ScriptDraft, transcript_text: str) -> list[str]:
        """What makes a parsed draft unusable (empty parts, too long, copied, no hashtags)."""
        problems: list[str] = []
        body = [line for line in draft.body if line.strip()]
        if not draft.hook.strip():
            problems.append("the hook is empty")
        if not body:
            problems.append("the body is empty")
        if len(body) > self.settings.max_body_lines:
            problems.append(f"the body has {len(body)} lines; at most {self.settings.max_body_lines}")
        spoken = " ".join([draft.hook, *body, draft.call_to_action])
        words = len(spoken.split())
        if words > self.settings.max_words * WORD_SLACK:
            problems.append(f"the script has {words} spoken words; at most {self.settings.max_words}")
        if not normalise_hashtags(draft.hashtags):
            problems.append("no usable hashtags (lowercase letters and digits, no '#')")
        share = similarity(spoken, transcript_text)
        if share >= self.settings.max_similarity:
            problems.append(
                f"{share:.0%} of its 3-word phrases are copied from the transcript "
                f"(must be under {self.settings.max_similarity:.0%}); say it in new words"
            )
        return problems

    def _script(self, draft: ScriptDraft, usage: list[Usage], source_title: str, source_uploader: str) -> Script:
        return Script(
            title=fit_title(draft.title.strip() or draft.hook.strip()),
            hook=draft.hook.strip(),
            body=[line.strip() for line in draft.body if line.strip()],
            call_to_action=draft.call_to_action.strip(),
            description=with_credit(draft.description.strip(), source_title, source_uploader),
            hashtags=normalise_hashtags(draft.hashtags),
            provider="openai",
            model=self.model,
            usage=usage,
        )
