"""sqlite dialect plugin (being written)."""
