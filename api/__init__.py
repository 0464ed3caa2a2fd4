"""The REST API for the organisation's systems (send and follow secure mail) and signed webhooks.

It sits on top: it uses messaging's hold, actions and access, accounts' users and the portal's audit
trail; nothing imports it.
"""
