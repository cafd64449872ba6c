from django.core.management.base import BaseCommand

from environments.services import rotations


class Command(BaseCommand):
    help = (
        "Start a rotation of every data service whose rotate_every_days have passed since its "
        "last rotation (or its creation), and restart the task chains of rotations a killed "
        "worker left (SPEC §14); print how many rotations were started (only the number). "
        "django-tasks-db has no scheduler: run this from cron or a systemd timer, e.g. every "
        "10 minutes. Safe at any time and on several hosts at once: a service already rotating "
        "is skipped (409 rotation_in_progress), and a resumed step does nothing twice."
    )

    def handle(self, *args, **options):
        self.stdout.write(str(len(rotations.start_due_rotations())))
