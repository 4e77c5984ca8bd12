"""Redaction of personal data and secrets before anything is stored (docs/redaction.md)."""
