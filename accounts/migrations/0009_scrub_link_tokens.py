"""Login attempts kept the whole address of a message link, token included: cut each token short."""

import re

from django.db import migrations

TOKEN_PATH = re.compile(r"/m/([A-Za-z0-9_-]{4})[A-Za-z0-9_-]{12,}")


def scrub(apps, schema_editor):
    LoginAttempt = apps.get_model("accounts", "LoginAttempt")
    for attempt in LoginAttempt.objects.filter(url__contains="/m/").only("pk", "url").iterator():
        scrubbed = TOKEN_PATH.sub("/m/\\1…", attempt.url)
        if scrubbed != attempt.url:
            LoginAttempt.objects.filter(pk=attempt.pk).update(url=scrubbed)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_branding_and_language")]
    operations = [migrations.RunPython(scrub, migrations.RunPython.noop)]
