"""The render's ffmpeg filtergraph and arguments (pure functions)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from resources.render.filtergraph import (
    audio_filtergraph,
    build_filtergraph,
    build_render_args,
    caption_margin_v,
    escape_option_value,
    video_filtergraph,
)

HOSTILE = "/tmp/we:ird, 'dir' [1];x\\y/sub:s.ass"


def graph(layout: str = "avatar_over_blur", *, has_source_audio: bool = True, logo: bool = False) -> str:
    return build_filtergraph(
        layout,
        has_source_audio=has_source_audio,
        subtitles_filename="/tmp/s.ass",
        fonts_dir="/fonts",
        logo=logo,
        target_lufs=-14.0,
        bed_volume=0.25,
    )


def unescape_graph_level(text: str) -> str:
    """Undo level-2 escaping the way ffmpeg's graph parser does (backslash quotes the next character)."""
    return re.sub(r"\\(.)", r"\1", text)


def split_option_values(text: str) -> list[str]:
    """Split `a:b\\:c` on unescaped colons and unescape, like ffmpeg's option parser (level 1)."""
    return [re.sub(r"\\(.)", r"\1", part) for part in re.split(r"(?<!\\):", text)]


def test_avatar_over_blur_blurs_a_small_copy_and_overlays_the_source_and_a_round_avatar() -> None:
    g = graph("avatar_over_blur")
    assert "split=2[bgsrc][fgsrc]" in g
    assert "scale=270:480" in g and "boxblur" in g and "scale=1080:1920" in g
    assert "alphamerge[av]" in g
    assert "[withring][av]overlay" in g


def test_blurred_background_changes_at_10fps_and_is_repeated_to_30fps() -> None:
    bg_chain = next(chain for chain in graph("avatar_over_blur").split(";") if chain.startswith("[bgsrc]"))
    assert bg_chain.startswith("[bgsrc]fps=10,")
    assert bg_chain.endswith("fps=30,setsar=1[bg]")


@pytest.mark.parametrize("layout", ["avatar_over_blur", "split_screen"])
def test_source_pixels_are_made_square_before_fitting(layout: str) -> None:
    assert graph(layout).startswith("[0:v]scale=w=iw*sar:h=ih,setsar=1,fps=30,")


def test_split_screen_stacks_two_1080x960_halves() -> None:
    g = graph("split_screen")
    assert g.count("crop=1080:960") == 2
    assert "[top][bottom]vstack=inputs=2[composed]" in g
    assert "boxblur" not in g


@pytest.mark.parametrize("layout", ["avatar_over_blur", "split_screen"])
def test_both_layouts_end_in_30fps_yuv420p_video_with_burned_subtitles_and_normalised_audio(
    layout: str,
) -> None:
    g = graph(layout)
    assert "fps=30" in g
    assert re.search(r"ass=filename=[^;]*:fontsdir=[^;]*,format=yuv420p\[vout\]", g)
    assert "loudnorm=I=-14:TP=-1.5:LRA=11,aresample=48000" in g
    assert g.endswith("[aout]")


def test_source_audio_is_ducked_under_the_voice_and_mixed() -> None:
    g = graph(has_source_audio=True)
    assert "[0:a]" in g
    assert "volume=0.25[bed]" in g
    assert "[bed][key]sidechaincompress" in g
    assert "[voice][ducked]amix=inputs=2" in g


def test_graph_without_source_audio_never_references_the_missing_stream() -> None:
    g = graph(has_source_audio=False)
    assert "0:a" not in g
    assert "sidechaincompress" not in g and "amix" not in g
    assert "[2:a]" in g and "loudnorm" in g


def test_every_consumed_label_is_produced_exactly_once() -> None:
    for layout in ("avatar_over_blur", "split_screen"):
        produced: list[str] = []
        consumed: list[str] = []
        for chain in graph(layout, logo=True).split(";"):
            head = re.match(r"(?:\[[^\]]+\])*", chain)
            tail = re.search(r"(?:\[[^\]]+\])*$", chain)
            assert head is not None and tail is not None
            consumed += re.findall(r"\[([^\]]+)\]", head.group())
            produced += re.findall(r"\[([^\]]+)\]", tail.group())
        assert len(produced) == len(set(produced))
        internal = {label for label in consumed if ":" not in label}  # "0:v" etc. are inputs
        assert internal == set(produced) - {"vout", "aout"}


def test_logo_is_scaled_and_overlaid_top_right_only_when_requested() -> None:
    assert "[3:v]" not in graph(logo=False)
    g = graph(logo=True)
    assert "[3:v]scale=160:160" in g
    assert "overlay=x=W-w-48:y=48" in g


def test_unknown_layout_is_rejected_with_the_choices() -> None:
    with pytest.raises(ValueError, match="avatar_over_blur, split_screen"):
        graph("picture_in_picture")


def test_captions_sit_above_the_avatar_and_on_the_split_screen_seam() -> None:
    assert 1920 - caption_margin_v("avatar_over_blur") < 1240 - 12
    assert abs((1920 - caption_margin_v("split_screen")) - 960) < 80


def test_escape_option_value_round_trips_a_hostile_path_through_both_parser_levels() -> None:
    escaped = escape_option_value(HOSTILE)
    assert not re.search(r"(?<!\\)[\[\],;']", escaped)  # nothing the graph parser would act on
    assert split_option_values(unescape_graph_level(escaped)) == [HOSTILE]


def test_hostile_subtitle_and_font_paths_stay_one_option_each() -> None:
    g = video_filtergraph("split_screen", subtitles_filename=HOSTILE, fonts_dir="C:\\fonts, mine", logo=False)
    ass_part = g[g.index("ass=") + len("ass=") : g.index(",format=yuv420p[vout]")]
    options = split_option_values(unescape_graph_level(ass_part))
    assert options == [f"filename={HOSTILE}", "fontsdir=C:\\fonts, mine"]


def test_render_args_loop_the_source_and_cut_at_the_voice_duration() -> None:
    args = render_args()
    assert args[:4] == ["-stream_loop", "-1", "-i", "/in/source.mp4"]
    assert args[args.index("-t") + 1] == "12.500"


def test_render_args_encode_h264_aac_48k_stereo_with_faststart() -> None:
    args = " ".join(render_args())
    assert "-c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p" in args
    assert "-c:a aac -b:a 160k -ar 48000 -ac 2" in args
    assert args.endswith("-movflags +faststart /out/short.mp4")


def test_render_args_run_video_and_audio_as_two_graphs_mapped_to_the_output() -> None:
    args = render_args()
    graphs = [args[i + 1] for i, a in enumerate(args) if a == "-filter_complex"]
    assert graphs == [
        video_filtergraph("avatar_over_blur", subtitles_filename="/s.ass", fonts_dir="/fonts", logo=False),
        audio_filtergraph(has_source_audio=True, target_lufs=-14.0, bed_volume=0.25),
    ]
    assert "-map [vout] -map [aout]" in " ".join(args)


def test_render_args_add_the_logo_as_fourth_input_and_threads_when_set() -> None:
    args = render_args(logo=Path("/in/logo.png"), threads=2)
    inputs = [args[i + 1] for i, a in enumerate(args) if a == "-i"]
    assert inputs == ["/in/source.mp4", "/in/avatar.mp4", "/in/voice.wav", "/in/logo.png"]
    assert args[args.index("-threads") + 1] == "2"


def test_render_args_pass_x264_params_after_the_preset_only_when_set() -> None:
    assert "-x264-params" not in render_args()
    args = render_args(x264_params="subme=1:me=dia")
    assert args[args.index("-x264-params") + 1] == "subme=1:me=dia"
    assert args.index("-x264-params") > args.index("-preset")


def test_the_renderer_tunes_x264_and_the_offline_avatar_is_drawn_at_the_size_it_is_shown() -> None:
    from resources.avatar import AvatarRenderer
    from resources.render import Renderer
    from resources.render.filtergraph import AVATAR_D

    assert AvatarRenderer().local_size == AVATAR_D  # the render masks it, without scaling
    assert f"[1:v]scale={AVATAR_D}:{AVATAR_D}," in graph("avatar_over_blur")
    assert "subme=1" in Renderer().x264_params


def render_args(
    *, logo: Path | None = None, threads: int = 0, x264_params: str = "", keyframes_at: tuple[float, ...] = ()
) -> list[str]:
    return build_render_args(
        source=Path("/in/source.mp4"),
        avatar=Path("/in/avatar.mp4"),
        voice=Path("/in/voice.wav"),
        out=Path("/out/short.mp4"),
        subtitles=Path("/s.ass"),
        fonts_dir=Path("/fonts"),
        duration_s=12.5,
        layout="avatar_over_blur",
        has_source_audio=True,
        logo=logo,
        threads=threads,
        x264_params=x264_params,
        keyframes_at=keyframes_at,
    )


def test_measured_loudness_becomes_one_exact_gain_and_a_limiter() -> None:
    from resources.render.filtergraph import loudness_filter

    chain = loudness_filter(-14.0, measured_lufs=-21.35)
    assert chain.startswith("volume=7.35dB,alimiter=limit=0.8414")
    assert "loudnorm" not in chain


def test_without_a_measurement_loudnorm_runs_single_pass() -> None:
    from resources.render.filtergraph import loudness_filter

    assert loudness_filter(-14.0) == "loudnorm=I=-14:TP=-1.5:LRA=11"
    assert loudness_filter(-14.0, measured_lufs=float("-inf")).startswith("loudnorm")


def test_integrated_loudness_is_read_from_the_ebur128_summary() -> None:
    from resources.render.filtergraph import parse_integrated_lufs

    log = "[Parsed_ebur128_0] Summary:\n\n  Integrated loudness:\n    I:         -21.3 LUFS\n    Threshold: -31.6 LUFS"
    assert parse_integrated_lufs(log) == -21.3
    assert parse_integrated_lufs("Integrated loudness:\n    I:         -inf LUFS") is None
    assert parse_integrated_lufs("no summary") is None


def test_measuring_pass_decodes_audio_only_and_meters_with_ebur128() -> None:
    from pathlib import Path

    from resources.render.filtergraph import build_measure_args

    args = build_measure_args(
        source=Path("s.mp4"), avatar=Path("a.mp4"), voice=Path("v.wav"), duration_s=5,
        has_source_audio=True, target_lufs=-14, bed_volume=0.25,
    )  # fmt: skip
    graph = args[args.index("-filter_complex") + 1]
    assert "ebur128" in graph and "[0:v]" not in graph and "[1:v]" not in graph
    assert args[-3:] == ["-f", "null", "-"]


def test_face_crop_moves_a_9_16_window_by_the_face_centre_expression() -> None:
    g = video_filtergraph(
        "face_crop", subtitles_filename="s.ass", fonts_dir="f", logo=False, face_centre="if(lt(t,1),0.2,0.8)"
    )
    first = g.split(";")[0]
    assert first.startswith("[0:v]scale=w=iw*sar:h=ih,setsar=1,fps=30,crop=")
    assert "x=" + escape_option_value("clip((if(lt(t,1),0.2,0.8))*iw-ow/2,0,iw-ow)") + ":" in first
    assert "scale=1080:1920" in first and "[1:v]scale=360:360" in g


def test_face_crop_captions_sit_above_the_corner_avatar() -> None:
    assert caption_margin_v("face_crop") > 360 + 160


def test_the_contact_sheets_moments_are_keyframes_so_it_decodes_only_those() -> None:
    from resources.media.contact_sheet import sheet_times

    assert sheet_times(20.0) == [0.0, 5.0, 10.0, 15.0]
    args = render_args(keyframes_at=tuple(sheet_times(20.0)))
    assert args[args.index("-force_key_frames") + 1] == "0,5,10,15"
    assert "-force_key_frames" not in render_args()
