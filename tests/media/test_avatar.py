"""The offline avatar: voice-driven mouth, blinks, and a real H.264 + AAC encode probed with PyAV."""

from __future__ import annotations

import os
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from resources.avatar import AvatarRenderer
from resources.avatar import renderer as renderer_module
from resources.avatar.envelope import blink_schedule, blink_track, loudness_envelope, read_wav_mono
from resources.avatar.presenter import PresenterDrawer
from resources.errors import ConfigurationError, InputRejected
from resources.media.ffmpeg import FfmpegError, run_ffmpeg
from resources.media.probe import probe

RATE = 22050
FPS = 25


def speech_like(seconds_silent: float, seconds_voiced: float) -> np.ndarray:
    """Silence, then a 220 Hz tone whose amplitude pulses 4 times a second like syllables."""
    silent = np.zeros(int(seconds_silent * RATE), np.float32)
    t = np.arange(int(seconds_voiced * RATE)) / RATE
    voiced = 0.5 * np.sin(2 * np.pi * 220 * t) * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t))
    return np.concatenate([silent, voiced.astype(np.float32)])


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("voice") / "voice.wav", speech_like(1.0, 2.0))


def no_zombie_children() -> bool:
    """True when no child process has exited without being reaped (waitpid would return its pid)."""
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:  # no children at all
        return True
    return pid == 0


def mouth_box(drawer: PresenterDrawer, mouth_open: float) -> tuple[slice, slice]:
    dx, dy = drawer.head_offset(0, mouth_open)
    return slice(378 + dy, 430 + dy), slice(325 + dx, 395 + dx)


def test_envelope_is_zero_in_silence_and_high_while_speaking() -> None:
    envelope = loudness_envelope(speech_like(1.0, 1.0), RATE, FPS)
    assert envelope.shape == (50,)
    assert envelope[:25].max() < 0.01
    assert envelope[25:].max() > 0.9


def test_envelope_of_pure_silence_is_all_zero() -> None:
    assert not loudness_envelope(np.zeros(RATE, np.float32), RATE, FPS).any()


def mouth_area(region: np.ndarray) -> int:
    """Pixels of a box around the mouth that are not skin-coloured (skin is the box's median colour)."""
    pixels = region.astype(int)
    skin = np.median(pixels.reshape(-1, 3), axis=0)
    return int((np.abs(pixels - skin).sum(axis=2) > 60).sum())


def test_loud_frame_shows_a_more_open_mouth_than_a_silent_frame() -> None:
    drawer = PresenterDrawer()
    silent = mouth_area(drawer.draw(0, mouth_open=0.0, blink=0.0)[mouth_box(drawer, 0.0)])
    loud = mouth_area(drawer.draw(0, mouth_open=1.0, blink=0.0)[mouth_box(drawer, 1.0)])
    assert loud > 2 * silent


def test_blink_schedule_is_deterministic_for_a_seed() -> None:
    assert blink_schedule(60.0, seed=7) == blink_schedule(60.0, seed=7)
    assert blink_schedule(60.0, seed=7) != blink_schedule(60.0, seed=8)


def test_blinks_last_120ms_and_come_every_2_5_to_5_seconds() -> None:
    blinks = blink_schedule(120.0, seed=3)
    starts = np.array([start for start, _ in blinks])
    assert all(end - start == pytest.approx(0.12) for start, end in blinks)
    assert starts[0] <= 3.0
    assert np.all((np.diff(starts) >= 2.5) & (np.diff(starts) <= 5.0))
    assert blinks[-1][1] <= 120.0


def test_every_blink_shuts_the_eyes_fully_in_at_least_one_frame() -> None:
    blinks = blink_schedule(30.0, seed=11)
    track = blink_track(blinks, n_frames=750, fps=FPS)
    for start, end in blinks:
        assert track[int(start * FPS) : int(end * FPS) + 2].max() == pytest.approx(1.0)


def test_eye_region_changes_during_a_blink_and_nothing_else_does() -> None:
    drawer = PresenterDrawer()
    open_eyes = drawer.draw(0, mouth_open=0.3, blink=0.0).copy()
    shut_eyes = drawer.draw(0, mouth_open=0.3, blink=1.0).copy()
    changed = np.argwhere(np.any(open_eyes != shut_eyes, axis=2))
    assert len(changed) > 500
    dx, dy = drawer.head_offset(0, 0.3)
    assert changed[:, 0].min() >= 280 + dy and changed[:, 0].max() <= 330 + dy  # eye rows only
    assert changed[:, 1].min() >= 290 + dx and changed[:, 1].max() <= 430 + dx


def test_read_wav_mono_decodes_non_pcm16_audio_with_pyav(voice: Path, tmp_path: Path) -> None:
    m4a = tmp_path / "voice.m4a"
    run_ffmpeg(["-i", str(voice), "-c:a", "aac", str(m4a)], what="encoding a test voice")
    samples, rate = read_wav_mono(m4a)
    assert rate == RATE
    assert samples.dtype == np.float32
    assert samples.size / rate == pytest.approx(3.0, abs=0.1)


def test_render_writes_a_600px_h264_aac_video_as_long_as_the_voice(voice: Path, tmp_path: Path) -> None:
    out = tmp_path / "avatar.mp4"
    result = AvatarRenderer().render(voice_path=voice, out_path=out)
    facts = probe(out)
    assert result.provider == "local" and not result.fallback_reason
    assert (facts.width, facts.height, facts.fps) == (600, 600, 25.0)  # the size the default layout shows
    assert (facts.video_codec, facts.audio_codec) == ("h264", "aac")
    assert facts.duration_s == pytest.approx(3.0, abs=0.2)
    assert [p.name for p in tmp_path.iterdir()] == ["avatar.mp4"]  # no partial file left behind


@pytest.mark.parametrize("content", [b"", b"this is not audio at all" * 40], ids=["empty", "garbage"])
def test_unusable_voice_file_is_rejected(content: bytes, tmp_path: Path) -> None:
    bad = tmp_path / "voice.wav"
    bad.write_bytes(content)
    with pytest.raises(InputRejected, match=r"voice\.wav"):
        AvatarRenderer().render(voice_path=bad, out_path=tmp_path / "avatar.mp4")
    assert not (tmp_path / "avatar.mp4").exists()


def test_ffmpeg_dying_mid_stream_raises_ffmpeg_error_with_its_log(
    voice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'encoder exploded' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(renderer_module, "ffmpeg_exe", lambda: str(fake))
    with pytest.raises(FfmpegError, match="encoder exploded"):
        AvatarRenderer().render(voice_path=voice, out_path=tmp_path / "avatar.mp4")
    assert not (tmp_path / "avatar.mp4").exists()
    assert no_zombie_children()


def test_a_drawing_failure_stops_ffmpeg_and_leaves_no_file(voice: Path, tmp_path: Path) -> None:
    def frames() -> Iterator[np.ndarray]:
        yield np.zeros((720, 720, 3), np.uint8)
        raise RuntimeError("drawing broke")

    out = tmp_path / "avatar.mp4"
    with pytest.raises(RuntimeError, match="drawing broke"):
        renderer_module.encode_frames(frames(), voice_path=voice, out_path=out, size=720, fps=25, duration_s=3.0)
    assert list(tmp_path.iterdir()) == []
    assert no_zombie_children()


def test_malformed_colour_is_a_configuration_error(voice: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="#rrggbb"):
        AvatarRenderer(shirt_color="blue").render(voice_path=voice, out_path=tmp_path / "avatar.mp4")
