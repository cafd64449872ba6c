"""Releases (SPEC §9): history rows become releases, every live value becomes revision 1 of
its key's history, production stages its config changes."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Q
from django.utils import timezone


def forwards(apps, schema_editor):
    from environments import crypto

    Environment = apps.get_model("environments", "Environment")
    Release = apps.get_model("environments", "Release")
    Variable = apps.get_model("environments", "Variable")
    Binding = apps.get_model("environments", "Binding")
    Domain = apps.get_model("environments", "Domain")
    ConfigEntry = apps.get_model("environments", "ConfigEntry")

    def context(environment, kind, key):
        return f"miosa/v1/entry/{environment.deployment_id}/{environment.pk}/{kind}/{key}/1"

    keyring = None
    for environment in Environment.objects.all().iterator():
        releases = list(
            Release.objects.filter(environment=environment).order_by("created_at", "id")
        )
        for number, release in enumerate(releases, start=1):
            release.number = number
            release.config_revision = 1
            release.save(update_fields=["number", "config_revision"])
        environment.release_count = len(releases)
        environment.live_release = releases[-1] if releases else None
        environment.config_revision = 1
        environment.config_changes = "staged" if environment.name == "production" else "immediate"
        environment.save(
            update_fields=["release_count", "live_release", "config_revision", "config_changes"]
        )

        entries = []
        for variable in Variable.objects.filter(environment=environment):
            keyring = keyring or crypto.get_keyring()
            live = f"miosa/v1/variable/{environment.deployment_id}/{environment.pk}/{variable.key}"
            try:
                value = crypto.decrypt(bytes(variable.ciphertext), context=live, keyring=keyring)
                ciphertext = crypto.encrypt(
                    value, context=context(environment, "variable", variable.key), keyring=keyring
                )
            except crypto.DecryptionError:
                ciphertext = b""  # already undecryptable: its history says so too
            entries.append(
                ConfigEntry(
                    environment=environment,
                    kind="variable",
                    key=variable.key,
                    is_secret=variable.is_secret,
                    ciphertext=ciphertext,
                    fingerprint=variable.fingerprint,
                    size=variable.size,
                    set_revision=1,
                    set_at=variable.updated_at,
                    set_by_label=variable.updated_by_label,
                )
            )
        for binding in Binding.objects.filter(environment=environment):
            keyring = keyring or crypto.get_keyring()
            live = f"miosa/v1/binding/{environment.deployment_id}/{environment.pk}/{binding.uid}"
            try:
                value = crypto.decrypt(bytes(binding.ciphertext), context=live, keyring=keyring)
                ciphertext = crypto.encrypt(
                    value,
                    context=context(environment, "binding", binding.variable_name),
                    keyring=keyring,
                )
            except crypto.DecryptionError:
                ciphertext = b""
            entries.append(
                ConfigEntry(
                    environment=environment,
                    kind="binding",
                    key=binding.variable_name,
                    is_secret=True,
                    ciphertext=ciphertext,
                    fingerprint=binding.fingerprint,
                    binding_kind=binding.kind,
                    binding_name=binding.name,
                    set_revision=1,
                    set_at=binding.updated_at,
                    set_by_label=binding.updated_by_label,
                )
            )
        for domain in Domain.objects.filter(environment=environment):
            entries.append(
                ConfigEntry(
                    environment=environment,
                    kind="domain",
                    key=domain.hostname,
                    set_revision=1,
                    set_at=domain.created_at or timezone.now(),
                )
            )
        ConfigEntry.objects.bulk_create(entries)


class Migration(migrations.Migration):
    dependencies = [
        ("environments", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(model_name="versionchange", name="history_env_time"),
        migrations.RemoveIndex(model_name="versionchange", name="history_env_version"),
        migrations.RenameModel(old_name="VersionChange", new_name="Release"),
        migrations.RenameField(model_name="release", old_name="to_version", new_name="version"),
        migrations.AlterField(
            model_name="release",
            name="version",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="releases",
                to="environments.version",
            ),
        ),
        migrations.AlterField(
            model_name="release",
            name="environment",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="releases",
                to="environments.environment",
            ),
        ),
        migrations.AlterField(
            model_name="release",
            name="kind",
            field=models.CharField(
                choices=[
                    ("deploy", "Deploy"),
                    ("promote", "Promotion"),
                    ("rollback", "Rollback"),
                    ("apply", "Apply"),
                    ("config", "Config change"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="release",
            name="number",
            field=models.PositiveIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="release",
            name="config_revision",
            field=models.PositiveIntegerField(default=1),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="release",
            name="rollback_of",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AlterModelOptions(name="release", options={"ordering": ["-number"]}),
        migrations.AddField(
            model_name="deployment",
            name="required_keys",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="environment",
            name="config_changes",
            field=models.CharField(
                choices=[("immediate", "Immediately"), ("staged", "Staged until applied")],
                default="immediate",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="environment",
            name="config_revision",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="environment",
            name="release_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="environment",
            name="live_release",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="environments.release",
            ),
        ),
        migrations.CreateModel(
            name="ConfigEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("variable", "Variable"),
                            ("binding", "Binding"),
                            ("domain", "Domain"),
                        ],
                        max_length=16,
                    ),
                ),
                ("key", models.CharField(max_length=256)),
                ("is_secret", models.BooleanField(default=False)),
                ("ciphertext", models.BinaryField(default=b"", editable=False)),
                ("fingerprint", models.BinaryField(default=b"", editable=False, max_length=80)),
                ("size", models.PositiveIntegerField(default=0)),
                ("binding_kind", models.CharField(blank=True, default="", max_length=16)),
                ("binding_name", models.CharField(blank=True, default="", max_length=100)),
                ("set_revision", models.PositiveIntegerField()),
                ("set_at", models.DateTimeField()),
                ("set_by_label", models.CharField(blank=True, default="", max_length=200)),
                ("end_revision", models.PositiveIntegerField(blank=True, null=True)),
                (
                    "ended",
                    models.CharField(
                        blank=True,
                        choices=[("replaced", "Replaced"), ("deleted", "Deleted")],
                        default="",
                        max_length=16,
                    ),
                ),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                ("ended_by_label", models.CharField(blank=True, default="", max_length=200)),
                (
                    "environment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="config_entries",
                        to="environments.environment",
                    ),
                ),
            ],
            options={"ordering": ["environment", "key", "set_revision"]},
        ),
        migrations.CreateModel(
            name="RuntimeInstance",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("instance", models.CharField(max_length=100)),
                ("token_name", models.CharField(blank=True, default="", max_length=100)),
                ("release_number", models.PositiveIntegerField(blank=True, null=True)),
                ("version_number", models.PositiveIntegerField(blank=True, null=True)),
                ("config_revision", models.PositiveIntegerField(blank=True, null=True)),
                ("first_seen_at", models.DateTimeField()),
                ("last_seen_at", models.DateTimeField(db_index=True)),
                (
                    "environment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="instances",
                        to="environments.environment",
                    ),
                ),
            ],
            options={"ordering": ["-last_seen_at"]},
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="release",
            constraint=models.UniqueConstraint(
                fields=("environment", "number"), name="release_number_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="release",
            constraint=models.CheckConstraint(
                condition=Q(("number__gte", 1)), name="release_number_positive"
            ),
        ),
        migrations.AddIndex(
            model_name="release",
            index=models.Index(fields=["environment", "version"], name="release_env_version"),
        ),
        migrations.AddConstraint(
            model_name="environment",
            constraint=models.CheckConstraint(
                condition=Q(("config_changes__in", ["immediate", "staged"])),
                name="environment_config_changes_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="configentry",
            constraint=models.UniqueConstraint(
                fields=("environment", "kind", "key", "set_revision"), name="config_entry_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="configentry",
            constraint=models.UniqueConstraint(
                condition=Q(("end_revision__isnull", True)),
                fields=("environment", "kind", "key"),
                name="config_entry_one_live",
            ),
        ),
        migrations.AddConstraint(
            model_name="configentry",
            constraint=models.CheckConstraint(
                condition=Q(("end_revision__isnull", True))
                | Q(("end_revision__gt", models.F("set_revision"))),
                name="config_entry_span",
            ),
        ),
        migrations.AddIndex(
            model_name="configentry",
            index=models.Index(fields=["environment", "end_revision"], name="config_entry_env_end"),
        ),
        migrations.AddIndex(
            model_name="configentry",
            index=models.Index(
                fields=["environment", "key", "set_revision"], name="config_entry_key"
            ),
        ),
        migrations.AddConstraint(
            model_name="runtimeinstance",
            constraint=models.UniqueConstraint(
                fields=("environment", "instance"), name="runtime_instance_unique"
            ),
        ),
    ]
