"""Held messages: `messaging.holding.hold(...)` is the one way a message is created."""
