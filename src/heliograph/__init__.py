"""Heliograph: LLM observability platform and gateway that speaks Helicone's public API."""

__version__ = "0.1.0"
