from django.core.management.base import BaseCommand

from environments.webhooks import delivery


class Command(BaseCommand):
    help = (
        "Enqueue again the webhook deliveries that are due and that no task holds (a retry or "
        "an enqueue that was lost, a killed worker's lease that ran out); print how many (only "
        "the number). Safe at any time and on several hosts at once: a delivery is claimed "
        "before it is sent, so a task run twice sends once. django-tasks-db has no scheduler: "
        "run this from cron or a systemd timer, e.g. every minute."
    )

    def handle(self, *args, **options):
        self.stdout.write(str(delivery.resume(delivery.due())))
