"""Create the demo's people (an administrator and a staff user with a cloud password)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import actions
from accounts.models import User

DEMO_USERS = [
    # (email, name, password, administrator)
    ("admin@example.com", "Ada Admin", "demo-admin-Passw0rd!", True),
    ("staff@example.com", "Sam Staff", "demo-staff-Passw0rd!", False),
]


class Command(BaseCommand):
    help = "Create (or reset) the demo users and print their credentials."

    @transaction.atomic
    def handle(self, *args, **options):
        actor = actions.COMMAND_LINE  # through the actions, so the trail shows the demo's accounts too
        self.stdout.write("Demo users (for trying the portal only):")
        for email, name, password, is_admin in DEMO_USERS:
            fields = {
                "name": name,
                "kind": User.Kind.INTERNAL,
                "is_staff": is_admin,
                "is_superuser": is_admin,
            }
            user = User.objects.filter(email=email).first()
            if user is None:
                user = actions.create_account(actor, None, email, password, **fields)
            else:
                actions.change_account(actor, None, user, fields)
                actions.set_password(actor, None, user, password, must_change=False)
            actions.grant_portal_access(actor, None, user)
            role = "administrator" if is_admin else "staff"
            self.stdout.write(f"  {role:13} {email}  password: {password}")
