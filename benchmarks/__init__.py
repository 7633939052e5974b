"""Scripts that print measured figures: `.venv/bin/python -m benchmarks.<name>`."""
