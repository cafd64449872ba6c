"""Every audit chain has its head before its first event (SPEC §12), so appending an event only
locks and moves it: the global chain 0 gets its head here, and so does every deployment without
one (one that had no event when 0005 chained the log). New deployments get theirs in
`services.create_deployment`."""

from django.db import migrations

GENESIS = "0" * 64  # audit.GENESIS, as it was when this migration was written


def start_chains(apps, schema_editor):
    AuditChainHead = apps.get_model("environments", "AuditChainHead")
    Deployment = apps.get_model("environments", "Deployment")
    started = set(AuditChainHead.objects.values_list("chain", flat=True))
    chains = [0, *Deployment.objects.order_by("pk").values_list("pk", flat=True)]
    AuditChainHead.objects.bulk_create(
        [AuditChainHead(chain=c, seq=0, hash=GENESIS) for c in chains if c not in started],
        batch_size=2000,
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("environments", "0005_audit_chain")]

    operations = [
        # Reversed, the heads stay: a head at GENESIS on a chain without events is no event.
        migrations.RunPython(start_chains, migrations.RunPython.noop, elidable=False),
    ]
