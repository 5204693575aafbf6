"""postgres dialect plugin (being written)."""
