"""Model and dataset cards rendered from Jinja templates shipped as package data."""
