"""mysql dialect plugin (being written)."""
