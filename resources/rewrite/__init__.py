"""The rewrite stage: a transcript becomes an original narration script; `originality` measures it."""

from resources.rewrite import originality
from resources.rewrite.rewriter import Rewriter

__all__ = ["Rewriter", "originality"]
