"""Publish: one Publisher per platform (resources.catalog.PLATFORMS), idempotent through the publish ledger."""

from resources.publish.publisher import Publisher

__all__ = ["Publisher"]
