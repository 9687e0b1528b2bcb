"""Rendering of predictions for humans: palettes, panels, PNG files."""
