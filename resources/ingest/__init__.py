"""Ingest: fetch a source video from a URL (yt-dlp) or a local file."""

from resources.ingest.downloader import Downloader, FetchedVideo

__all__ = ["Downloader", "FetchedVideo"]
