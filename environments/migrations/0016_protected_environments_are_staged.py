"""A protected environment's config changes are staged (services.set_protection): environments
protected before that rule, whose changes still went live immediately, become staged, so that
no further change goes live without an approved apply. Their next change is a pending one."""

from django.db import migrations


def stage_protected(apps, schema_editor):
    Environment = apps.get_model("environments", "Environment")
    Environment.objects.filter(
        config_changes="immediate", protection__required_approvals__gt=0
    ).update(config_changes="staged")


class Migration(migrations.Migration):
    dependencies = [("environments", "0015_change_requests")]

    operations = [migrations.RunPython(stage_protected, migrations.RunPython.noop)]
