"""The tamper-evident audit log (SPEC §12, issue 11): hash-chain fields on AuditEvent, the chain
heads, and the tombstones `prune_audit` leaves. Existing events are chained in the order they
were written (created_at, then id), per deployment; events whose deployment was deleted before
this migration lost their deployment id, so they join the global chain 0 with the events that
never had one."""

import django.utils.timezone
from django.db import migrations, models
from django.db.models import Value
from django.db.models.functions import Coalesce

BATCH = 2000


def chain_existing_events(apps, schema_editor):
    from environments.audit import GENESIS, content_hash, link_hash

    AuditEvent = apps.get_model("environments", "AuditEvent")
    AuditChainHead = apps.get_model("environments", "AuditChainHead")
    events = (
        AuditEvent.objects.annotate(chain_id=Coalesce("deployment_id", Value(0)))
        .order_by("chain_id", "created_at", "id")
        .iterator(chunk_size=BATCH)
    )
    heads: dict[int, AuditChainHead] = {}
    batch = []
    fields = ["chain", "seq", "prev_hash", "content_hash", "hash"]
    for event in events:
        head = heads.setdefault(
            event.chain_id, AuditChainHead(chain=event.chain_id, seq=0, hash=GENESIS)
        )
        event.chain, event.seq, event.prev_hash = event.chain_id, head.seq + 1, head.hash
        event.content_hash = content_hash(event)
        event.hash = link_hash(event.prev_hash, event.content_hash)
        head.seq, head.hash = event.seq, event.hash
        batch.append(event)
        if len(batch) >= BATCH:
            AuditEvent.objects.bulk_update(batch, fields)
            batch = []
    if batch:
        AuditEvent.objects.bulk_update(batch, fields)
    AuditChainHead.objects.bulk_create(heads.values(), batch_size=BATCH)


class Migration(migrations.Migration):
    dependencies = [
        ("environments", "0004_token_expiry"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="created_at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="chain",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="content_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("chain", models.BigIntegerField(primary_key=True, serialize=False)),
                ("seq", models.BigIntegerField(default=0)),
                ("hash", models.CharField(max_length=64)),
            ],
        ),
        migrations.CreateModel(
            name="AuditTombstone",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("chain", models.BigIntegerField()),
                ("seq", models.BigIntegerField()),
                ("content_hash", models.CharField(max_length=64)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("chain", "seq"), name="audit_tombstone_unique")
                ],
            },
        ),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="auditevent",
            name="chain",
            field=models.BigIntegerField(),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                fields=("chain", "seq"), name="audit_chain_seq_unique"
            ),
        ),
    ]
