"""Callers: API keys (stored as keyed hashes), tenants and tiers, rate limits and budgets."""
