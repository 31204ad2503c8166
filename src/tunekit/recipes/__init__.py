"""Recipes: short, top-to-bottom workflows composed from the components."""
