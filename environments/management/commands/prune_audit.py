from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from environments import audit
from environments.actors import Actor


class Command(BaseCommand):
    help = (
        "Delete the audit events of one action older than DAYS days (e.g. runtime.fetch), "
        "keeping each one's place in its hash chain as a tombstone (chain, seq, content hash) "
        "so verify_audit still checks every link. Prints how many were pruned; audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("--action", required=True, help="e.g. runtime.fetch")
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--dry-run", action="store_true", help="print how many would be pruned")

    def handle(self, *args, action, older_than, dry_run, **options):
        if older_than < 1:
            raise CommandError("--older-than must be at least 1 (days).")
        before = timezone.now() - timedelta(days=older_than)
        try:
            count = audit.prune(
                action=action,
                before=before,
                actor=Actor.system("manage.py prune_audit"),
                dry_run=dry_run,
            )
        except (ValueError, audit.TamperedEvent) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(str(count))
