"""The engine acts: it walks a Plan's targets with capability and breaker checks, retries and backoff,
first-token and stall timers, optional hedging, under one deadline; it commits a stream at its first token."""
