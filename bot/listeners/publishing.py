"""Placeholder: the module's owner replaces it."""


def register(app, services) -> None:
    """Add this module's listeners to the Bolt app."""
