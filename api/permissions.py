"""Scopes: each view names the scope each of its methods needs."""

from rest_framework import permissions

from .models import ApiKey


class HasScope(permissions.BasePermission):
    message = "The key lacks the scope this needs."

    def has_permission(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return False
        needed = view.scopes.get(request.method) if hasattr(view, "scopes") else None
        return needed is not None and needed in request.auth.scope_list()
