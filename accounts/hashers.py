"""Cloud passwords: Argon2id at OWASP's minimum parameters (m=19 MiB, t=2, p=1)."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class PortalArgon2PasswordHasher(Argon2PasswordHasher):
    """About 30 ms a hash instead of Django's 100 MiB/p=8: logins stay fast on a small server.

    Django re-hashes a stored password at the next login when these parameters change.
    """

    algorithm = "argon2"
    time_cost = 2
    memory_cost = 19 * 1024
    parallelism = 1
