"""Routing: rules that turn a request into a Plan, and the classifier that informs them."""
