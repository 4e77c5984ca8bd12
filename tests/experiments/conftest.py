"""An app per test whose experiment cells and judges reach the local fake provider
(tests/support/provider_app.py)."""

from support.provider_app import client, fake, settings

__all__ = ["client", "fake", "settings"]
