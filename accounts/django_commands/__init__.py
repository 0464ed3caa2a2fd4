"""Django's own account commands (createsuperuser, changepassword) through the actions.

An app of its own, listed before django.contrib.auth, because the first app that has a command wins.
"""
