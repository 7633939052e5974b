"""The pipeline as Dagster software-defined assets, one module per stage, in graph order."""
