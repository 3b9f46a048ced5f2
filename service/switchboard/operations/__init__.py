"""Operators' state and tools: holds on targets (drain, restore, force), the recent-attempts window, the
operation records, scrape-time gauges, and the incident analysis of request logs."""
