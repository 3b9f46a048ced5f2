"""Metrics (Prometheus), traces (OpenTelemetry) and the one log line per request, recorded in one place."""
