"""Shared builders for tests (OTLP payloads, auth headers)."""
