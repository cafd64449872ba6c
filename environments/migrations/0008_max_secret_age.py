"""A deployment's `max_secret_age_days` (SPEC §14): past it, a secret is flagged overdue."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("environments", "0007_data_services"),
    ]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="max_secret_age_days",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name="deployment",
            constraint=models.CheckConstraint(
                condition=models.Q(max_secret_age_days__isnull=True)
                | models.Q(max_secret_age_days__gte=1, max_secret_age_days__lte=3650),
                name="deployment_max_secret_age_range",
            ),
        ),
    ]
