"""The bundled caption font: Lato (OFL) from the `font-lato` wheel, so libass never falls back to nothing."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from resources.errors import ConfigurationError

FONT_FAMILY = "Lato"
"""Family name the ASS styles ask for; libass finds it in `fonts_dir()`."""

_REQUIRED_FILE = "Lato-Bold.ttf"


def fonts_dir() -> Path:
    """Folder holding the Lato TTF files (and OFL.txt) of the installed `font-lato` wheel.

    libass draws NO text and ffmpeg still exits 0 when the style's font is missing, so a missing wheel is a
    configuration error here rather than silently caption-less videos later.
    """
    try:
        folder = Path(str(files("font_lato").joinpath("files")))
    except ModuleNotFoundError:
        folder = Path()
    if not (folder / _REQUIRED_FILE).is_file():
        raise ConfigurationError(
            f"render: the Lato font ({_REQUIRED_FILE}) is not installed; install the project (make setup), "
            "which pulls the font-lato wheel"
        )
    return folder
