"""Alerts: per-organization rules on cost, error rate, latency or request count over a sliding window,
checked periodically, that notify a webhook (JSON or Slack) when they fire and when they resolve."""
