"""Tests of alert rules: the API, checks with an injected clock, notifications to a local receiver."""
