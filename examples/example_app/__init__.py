"""The examples' Django app: its tasks live in ``tasks.py``."""
