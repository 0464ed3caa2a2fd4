from django.db import migrations
from django.utils.crypto import salted_hmac


def hash_backup_codes(apps, schema_editor):
    """Backup codes kept as typed (django-otp's way) become the keyed hash accounts.twostep checks."""
    StaticToken = apps.get_model("otp_static", "StaticToken")
    for token in StaticToken.objects.all():
        if len(token.token) == 16:
            continue  # already a hash
        code = "".join(token.token.split()).replace("-", "").lower()
        token.token = salted_hmac("portal.twostep.backup_code", code, algorithm="sha256").hexdigest()[:16]
        token.save(update_fields=["token"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_password_emails_outbox"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(hash_backup_codes, migrations.RunPython.noop)]
