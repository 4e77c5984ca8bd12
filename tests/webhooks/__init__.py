"""Tests of webhooks: the API, delivery to a local receiver with retries, the planner and the UI."""
