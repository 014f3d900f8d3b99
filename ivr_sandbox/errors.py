"""The sandbox's one error, in a module of its own so every sandbox module can raise it."""

from __future__ import annotations


class SandboxError(RuntimeError):
    """The sandboxed Asterisk could not be provisioned, started, reached or stopped."""
