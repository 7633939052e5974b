"""The one partitions definition: one partition per source video."""

from dagster import DynamicPartitionsDefinition

from resources.catalog import PARTITIONS_NAME

source_videos = DynamicPartitionsDefinition(name=PARTITIONS_NAME)
