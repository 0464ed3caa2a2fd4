"""Every portal starts with one default profile: cloud passwords, no two-step."""

from django.db import migrations


def create_default_profile(apps, schema_editor):
    AuthProfile = apps.get_model("accounts", "AuthProfile")
    if not AuthProfile.objects.filter(is_default=True).exists():
        AuthProfile.objects.create(name="Default", is_default=True, methods="cloud")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(create_default_profile, migrations.RunPython.noop)]
