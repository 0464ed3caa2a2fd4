"""The branding is the portal's (both apps wear it): the model leaves the accounts app's state; its table
stays, and portal.0001 takes it over. No data moves."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0012_check_scope")]
    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="Branding")]),
    ]
