"""Sensors: what starts the pipeline by itself."""
