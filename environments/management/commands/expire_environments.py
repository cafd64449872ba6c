from django.core.management.base import BaseCommand
from django.utils import timezone

from environments import selectors, services
from environments.actors import Actor
from environments.errors import NotFound
from environments.models import Environment


class Command(BaseCommand):
    help = (
        "Delete the environments whose expires_at is past (audited) and print how many were "
        "deleted (only the number). Safe to run from several servers at once: each deletion "
        "locks the environment and re-checks it; one already gone is skipped."
    )

    def handle(self, *args, **options):
        now = timezone.now()
        actor = Actor.system("manage.py expire_environments")
        deleted = 0
        for pk in selectors.expired_environment_ids(now):
            try:
                services.delete_environment(
                    environment=Environment(pk=pk), actor=actor, expired_at=now
                )
            except NotFound:
                continue  # another run deleted it first
            deleted += 1
        self.stdout.write(str(deleted))
