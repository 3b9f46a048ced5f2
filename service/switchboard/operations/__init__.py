"""Operators' and product owners' state and tools beside the request path: holds on targets (drain, restore,
force), the recent-attempts window, the operation records, scrape-time gauges, feedback on answers, and the
reports read back from the logs (incidents, savings)."""
