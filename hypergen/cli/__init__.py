"""Command-line entry points (``hypergen ...``)."""
