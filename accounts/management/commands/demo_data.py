"""Create the demo's people (an administrator and a staff user with a cloud password)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User, portal_permission

DEMO_USERS = [
    # (email, name, password, administrator)
    ("admin@example.com", "Ada Admin", "demo-admin-Passw0rd!", True),
    ("staff@example.com", "Sam Staff", "demo-staff-Passw0rd!", False),
]


class Command(BaseCommand):
    help = "Create (or reset) the demo users and print their credentials."

    @transaction.atomic
    def handle(self, *args, **options):
        permission = portal_permission()
        self.stdout.write("Demo users (for trying the portal only):")
        for email, name, password, is_admin in DEMO_USERS:
            user = User.objects.filter(email=email).first() or User(email=email)
            user.name, user.kind = name, User.Kind.INTERNAL
            user.is_staff = user.is_superuser = is_admin
            user.set_password(password)
            user.save()
            user.user_permissions.add(permission)
            role = "administrator" if is_admin else "staff"
            self.stdout.write(f"  {role:13} {email}  password: {password}")
