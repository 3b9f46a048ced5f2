"""Retry timing and circuit breaking: policy only, no I/O."""
