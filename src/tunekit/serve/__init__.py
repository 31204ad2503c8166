"""Serve a run directory over HTTP: authenticated, micro-batched, monitored. Entry point: `create_app`."""

from tunekit.serve.app import create_app

__all__ = ["create_app"]
