from django.core.management.base import BaseCommand

from environments import services


class Command(BaseCommand):
    help = (
        "Close the open change requests past their expiry (7 days; audited as "
        "change_request.expire) and print how many (only the number). Meant for a cron job or "
        "timer, like expire_environments; the worker's expire_change_requests task does the same."
    )

    def handle(self, *args, **options):
        self.stdout.write(str(services.expire_change_requests()))
