from datetime import timedelta

from django.core.management.base import BaseCommand

from environments.services import data_services


class Command(BaseCommand):
    help = (
        "Enqueue again the data services no task is working on although they are provisioning "
        "or destroying (a killed worker's lease ran out, or an enqueue was lost); print how "
        "many (only the number). Safe at any time: a task run twice creates nothing twice. "
        "Run it when the worker starts, or from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            default=10,
            help="Minutes without a change before a service without a lease counts as stalled.",
        )

    def handle(self, *args, older_than: int, **options):
        stalled = data_services.stalled_services(older_than=timedelta(minutes=older_than))
        self.stdout.write(str(data_services.resume(stalled)))
