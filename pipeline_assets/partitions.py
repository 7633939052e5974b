"""The one partitions definition: one partition per source video."""

from dagster import DynamicPartitionsDefinition

source_videos = DynamicPartitionsDefinition(name="source_videos")
