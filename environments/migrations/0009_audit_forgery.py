"""The audit chain, issue 18: content version 2, checkable tombstones, coalesced events, and
the page selecting by chain (see `environments/audit.py`).

Existing events and tombstones keep content version 1 (they verify as they were written); new
ones are version 2. Existing tombstones have no prune id: their number is recorded in an
`audit.upgrade` event of chain 0, so that none can be added later. Every existing deployment
whose chain has no event yet gets one (`audit.chain_start`), since verification now requires
one in every deployment's chain. A database without any audit event, tombstone or deployment
(a new one) gets no event."""

from datetime import UTC, datetime

from django.db import migrations, models

GENESIS = "0" * 64  # audit.GENESIS
ACTOR = "manage.py migrate"


def _append(apps, chain, action, *, deployment=None, detail=None):
    """Append an event to `chain` in content version 2 (a fixed format: audit.py's hashing
    functions compute it), with the historical models."""
    from environments.audit import content_hash, link_hash

    AuditEvent = apps.get_model("environments", "AuditEvent")
    AuditChainHead = apps.get_model("environments", "AuditChainHead")
    head = AuditChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is None:
        head = AuditChainHead.objects.create(chain=chain, seq=0, hash=GENESIS)
    event = AuditEvent(
        created_at=datetime.now(UTC),
        actor_label=ACTOR,
        action=action,
        deployment=deployment,
        deployment_name=deployment.name if deployment else "",
        detail=detail or {},
        content_version=2,
        chain=chain,
        seq=head.seq + 1,
        prev_hash=head.hash,
    )
    event.content_hash = content_hash(event)
    event.hash = link_hash(event.prev_hash, event.content_hash)
    event.save()
    head.seq, head.hash = event.seq, event.hash
    head.save(update_fields=["seq", "hash"])


def upgrade(apps, schema_editor):
    AuditEvent = apps.get_model("environments", "AuditEvent")
    AuditTombstone = apps.get_model("environments", "AuditTombstone")
    AuditChainHead = apps.get_model("environments", "AuditChainHead")
    Deployment = apps.get_model("environments", "Deployment")
    if not (
        AuditEvent.objects.exists()
        or AuditTombstone.objects.exists()
        or Deployment.objects.exists()
    ):
        return
    started = set(AuditChainHead.objects.filter(seq__gt=0).values_list("chain", flat=True))
    for deployment in Deployment.objects.order_by("pk").iterator(chunk_size=2000):
        if deployment.pk not in started:
            _append(apps, deployment.pk, "audit.chain_start", deployment=deployment)
    _append(
        apps,
        0,
        "audit.upgrade",
        detail={"content_version": 2, "legacy_tombstones": AuditTombstone.objects.count()},
    )


class Migration(migrations.Migration):
    dependencies = [("environments", "0008_max_secret_age")]

    operations = [
        migrations.RemoveIndex(model_name="auditevent", name="audit_deployment_time"),
        # Existing rows are version 1; the default becomes 2 afterwards.
        migrations.AddField(
            model_name="auditevent",
            name="content_version",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="content_version",
            field=models.PositiveSmallIntegerField(default=2),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="count",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="coalesce_key",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="coalesce_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="audittombstone",
            name="content_version",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AlterField(
            model_name="audittombstone",
            name="content_version",
            field=models.PositiveSmallIntegerField(default=2),
        ),
        migrations.AddField(
            model_name="audittombstone",
            name="action",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="audittombstone",
            name="created_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="audittombstone",
            name="rest_hash",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="audittombstone",
            name="prune",
            field=models.CharField(blank=True, db_index=True, default="", max_length=32),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["chain", "-id"], name="audit_chain_id"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=~models.Q(coalesce_key=""),
                fields=["coalesce_key", "-id"],
                name="audit_coalesce",
            ),
        ),
        # Reversed, the events stay (they are part of the chains).
        migrations.RunPython(upgrade, migrations.RunPython.noop, elidable=False),
    ]
