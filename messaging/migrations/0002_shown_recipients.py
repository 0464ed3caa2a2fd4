from django.db import migrations, models


def show_known_recipients(apps, schema_editor):
    """Messages composed in the portal showed every recipient; mail from the intake shows none,
    because its To and Cc headers were not kept and any recipient may have been a blind copy."""
    Message = apps.get_model("messaging", "Message")
    for message in Message.objects.exclude(source="smtp").prefetch_related("recipients"):
        message.shown_recipients = [r.address for r in sorted(message.recipients.all(), key=lambda r: r.pk)]
        message.save(update_fields=["shown_recipients"])


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0001_held_messages"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="shown_recipients",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="The To and Cc addresses. Blind-copied recipients are held too, but not shown here.",
                verbose_name="recipients as the message shows them",
            ),
        ),
        migrations.RunPython(show_known_recipients, migrations.RunPython.noop),
    ]
