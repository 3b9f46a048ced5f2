"""The one error a stack's config raises: before any resource is declared, with a message that names the key."""


class StackConfigError(ValueError):
    """Raised before any resource is declared; the message names the config key."""
