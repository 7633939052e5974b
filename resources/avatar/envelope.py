"""What drives the presenter: the voice's loudness per video frame and a blink schedule.

Plain functions on arrays so they are unit-tested without drawing or encoding anything.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import av
import numpy as np

from resources.errors import InputRejected

# Below -60 dBFS a frame counts as silence: it must not become the reference that normalises the clip.
_SILENCE_RMS = 1e-3
# Fraction of the reference loudness under which the mouth stays shut (breath, room noise).
_GATE = 0.08
_ATTACK_S = 0.03
_RELEASE_S = 0.09
_BLINK_S = 0.12
_BLINK_GAP_S = (2.5, 5.0)


def read_wav_mono(path: Path) -> tuple[np.ndarray, int]:
    """Decode an audio file to mono float32 samples in -1..1 and its sample rate.

    PCM16 WAV (what our voices write) is read with the stdlib; anything else is decoded with PyAV.
    Raises InputRejected when the file is empty, not audio, or holds no samples.
    """
    if not path.exists() or path.stat().st_size == 0:
        raise InputRejected(f"voice file {path.name} is missing or empty; synthesize the voiceover again")
    try:
        samples, rate = _read_pcm16_wav(path)
    except (wave.Error, EOFError, _NotPcm16):
        samples, rate = _decode_with_av(path)
    if samples.size == 0 or rate <= 0:
        raise InputRejected(f"voice file {path.name} holds no audio samples; synthesize the voiceover again")
    return samples, rate


class _NotPcm16(Exception):
    """The WAV is valid but not 16-bit PCM: let PyAV decode it."""


def _read_pcm16_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise _NotPcm16
        channels, rate = wav.getnchannels(), wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    pcm = np.frombuffer(raw, dtype="<i2")
    pcm = pcm[: pcm.size - pcm.size % channels].reshape(-1, channels)
    return (pcm.mean(axis=1) / 32768.0).astype(np.float32), rate


def _decode_with_av(path: Path) -> tuple[np.ndarray, int]:
    try:
        with av.open(str(path)) as container:
            stream = next(iter(container.streams.audio), None)
            if stream is None:
                raise InputRejected(f"voice file {path.name} has no audio stream; provide a WAV or MP3 voice")
            rate = stream.codec_context.sample_rate
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks = [
                out.to_ndarray().reshape(-1) for frame in container.decode(stream) for out in resampler.resample(frame)
            ]
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    except av.error.FFmpegError as exc:
        raise InputRejected(f"voice file {path.name} is not decodable audio ({exc}); provide a WAV") from exc
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return samples, rate


def frame_count(n_samples: int, sample_rate: int, fps: int) -> int:
    """Number of video frames that cover `n_samples` of audio (the last partial frame included)."""
    return max(1, math.ceil(n_samples * fps / sample_rate - 1e-9))


def loudness_envelope(samples: np.ndarray, sample_rate: int, fps: int) -> np.ndarray:
    """Mouth opening per video frame in 0..1 from the voice's RMS loudness.

    Normalised to the 95th percentile of the clip's non-silent frames (so quiet and loud voices both move
    the mouth fully), gated so room noise keeps it shut, and smoothed with a fast attack and a slower release
    so it opens on each syllable without jittering.
    """
    n_frames = frame_count(samples.size, sample_rate, fps)
    bounds = np.minimum(np.round(np.arange(n_frames + 1) * sample_rate / fps).astype(np.int64), samples.size)
    # Cumulative sum of squares: every frame's energy in O(n), whatever the frame length.
    energy = np.concatenate(([0.0], np.cumsum(samples.astype(np.float64) ** 2)))
    counts = np.maximum(np.diff(bounds), 1)
    rms = np.sqrt(np.maximum(energy[bounds[1:]] - energy[bounds[:-1]], 0.0) / counts)

    voiced = rms[rms > _SILENCE_RMS]
    if voiced.size == 0:
        return np.zeros(n_frames, dtype=np.float32)
    reference = float(np.percentile(voiced, 95))
    level = np.clip((rms / reference - _GATE) / (1.0 - _GATE), 0.0, 1.0) ** 0.8

    attack = 1.0 - math.exp(-1.0 / (fps * _ATTACK_S))
    release = 1.0 - math.exp(-1.0 / (fps * _RELEASE_S))
    smoothed = np.empty(n_frames, dtype=np.float32)
    current = 0.0
    for i, target in enumerate(level.tolist()):
        current += (attack if target > current else release) * (target - current)
        smoothed[i] = current
    return smoothed


def blink_schedule(duration_s: float, seed: int) -> list[tuple[float, float]]:
    """Deterministic blinks as (start_s, end_s): ~120 ms each, 2.5–5 s apart, the first within 3 s."""
    rng = np.random.default_rng(seed)
    blinks: list[tuple[float, float]] = []
    start = float(rng.uniform(0.8, 3.0))
    while start + _BLINK_S <= duration_s:
        blinks.append((start, start + _BLINK_S))
        start += float(rng.uniform(*_BLINK_GAP_S))
    return blinks


def blink_track(schedule: list[tuple[float, float]], n_frames: int, fps: int) -> np.ndarray:
    """Eyelid closure per video frame in 0..1 for a blink schedule.

    The closure profile has a flat top wide enough that, at any frame phase, one frame shows the eye fully
    shut; a plain triangle sampled at 25 fps would often skip the closed moment.
    """
    times = (np.arange(n_frames) + 0.5) / fps
    track = np.zeros(n_frames, dtype=np.float32)
    for start, end in schedule:
        middle, half = (start + end) / 2, (end - start) / 2
        closure = np.clip(1.5 * (1.0 - np.abs(times - middle) / half), 0.0, 1.0)
        np.maximum(track, closure, out=track)
    return track
