"""Webhooks (reference §5): their configuration, the ingest planner that queues a delivery per matching
logged request, the signed payload, and the delivery jobs with their log."""
