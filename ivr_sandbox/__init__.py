"""A real Asterisk in a chroot for demos and integration tests (docs/sandbox.md)."""

from ivr_sandbox.asterisk import AmiEndpoint, AsteriskSandbox, SandboxError

__all__ = ["AmiEndpoint", "AsteriskSandbox", "SandboxError"]
