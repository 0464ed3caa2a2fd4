"""Held messages: `messaging.hold(...)` is the one way a message is created.

It is `messaging.holding.hold`, bound here when the app is ready (`MessagingConfig.ready`): a package's
`__init__` is imported before the app registry, so it cannot import the models that holding uses.
"""
