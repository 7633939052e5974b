"""The operator's commands (`shorts ...` or `python -m cli ...`): everything that is not the asset graph."""
