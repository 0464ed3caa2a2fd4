"""Django's changepassword, through the actions: checked, every session of the account ended, recorded."""

import getpass

from django.contrib.auth.management.commands import changepassword
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from accounts import actions
from accounts.models import User

TRIES = 3


class Command(changepassword.Command):
    def handle(self, *args, **options):
        address = options["username"] or getpass.getuser()
        user = User.objects.filter(email=address.strip().lower()).first()
        if user is None:
            raise CommandError(f"user '{address}' does not exist")
        self.stdout.write(f"Changing password for user '{user}'")
        for _try in range(TRIES):
            first, second = self._get_pass(), self._get_pass("Password (again): ")
            if first != second:
                self.stdout.write("Passwords do not match. Please try again.")
                continue
            try:
                validate_password(second, user)
            except ValidationError as error:
                self.stderr.write("\n".join(error.messages))
                continue
            actions.set_password(actions.COMMAND_LINE, None, user, first, must_change=False)
            return f"Password changed successfully for user '{user}'"
        raise CommandError(f"Aborting password change for user '{user}' after {TRIES} attempts")
