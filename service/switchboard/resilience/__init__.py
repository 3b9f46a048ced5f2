"""Retry timing (pure policy) and circuit breakers, kept in process memory or shared through Redis."""
