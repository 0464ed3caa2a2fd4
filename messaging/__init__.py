"""Held messages: `messaging.hold(...)` is the one way a message is created."""


def hold(**fields):
    """Hold a message for its recipients (see messaging.holding.hold)."""
    from .holding import hold as _hold

    return _hold(**fields)
