"""The run directory: layout, model files, environment record."""
