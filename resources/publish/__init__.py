"""Publish: one Publisher per platform, idempotent through the publish ledger."""

from resources.publish.publisher import PLATFORMS, Publisher

__all__ = ["PLATFORMS", "Publisher"]
