"""A local Hugging Face Hub for the tests: `LocalHub` (the server) and the `local_hub` pytest fixture."""

from .server import LocalHub


__all__ = ["LocalHub"]
