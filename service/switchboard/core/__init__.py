"""The bottom layer: the types every other part shares (the request, its context and plan, the standard
response, outcomes, stream events, callers, targets, capabilities, errors). It imports nothing above it."""
