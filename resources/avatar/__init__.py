"""The avatar stage: a presenter video speaking the voiceover (offline engine drawn with numpy)."""

from resources.avatar.renderer import AvatarRenderer

__all__ = ["AvatarRenderer"]
