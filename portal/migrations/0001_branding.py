"""The branding model, moved from the accounts app: its table (accounts_branding) is kept as it is, and its
content type is renamed, so that the permissions given for it and the admin history stay attached."""

from django.db import migrations, models


def rename_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="portal", model="branding").exists():
        ContentType.objects.filter(app_label="accounts", model="branding").update(app_label="portal")


def rename_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="portal", model="branding").update(app_label="accounts")


class Migration(migrations.Migration):
    initial = True
    dependencies = [("accounts", "0013_branding_moves_to_portal"), ("contenttypes", "0002_remove_content_type_name")]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Branding",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(blank=True, help_text="Empty: the server's PORTAL_NAME.", max_length=100, verbose_name="organisation name")),
                        ("logo", models.BinaryField(blank=True, verbose_name="logo (PNG, as stored)")),
                        ("logo_version", models.CharField(blank=True, editable=False, max_length=16, verbose_name="logo version")),
                        ("colour", models.CharField(default="#0b4f8a", help_text="As #rrggbb. White text on it must reach the WCAG AA contrast of 4.5:1.", max_length=7, verbose_name="primary colour")),
                        ("footer", models.TextField(blank=True, help_text="Shown at the foot of every page and email. Empty: the portal's own words.", verbose_name="footer and disclaimer")),
                        ("support_contact", models.CharField(blank=True, help_text="Whom staff contact when they cannot log in. Empty: the server's SUPPORT_CONTACT.", max_length=200, verbose_name="support contact")),
                        ("email_subject", models.CharField(blank=True, help_text="Placeholders: {sender}, {subject}, {expires}. Empty: the portal's own words.", max_length=200, verbose_name="notification subject")),
                        ("email_introduction", models.TextField(blank=True, help_text="The first paragraph of the notification. Placeholders: {sender}, {subject}, {expires}.", verbose_name="notification introduction")),
                        ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                    ],
                    options={"verbose_name": "branding", "verbose_name_plural": "branding", "db_table": "accounts_branding"},
                ),
            ]
        ),
        migrations.RunPython(rename_content_type, rename_back),
    ]
