"""What operators and product owners act on beside the request path: operator actions, feedback on answers,
and the reports read back from the logs."""
