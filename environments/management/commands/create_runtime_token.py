from django.core.management.base import BaseCommand, CommandError

from environments import services
from environments.actors import Actor
from environments.models import Environment

from ._lifetime import add_lifetime_arguments, lifetime


class Command(BaseCommand):
    help = "Create a runtime token for DEPLOYMENT's ENVIRONMENT and print it (only the token)."

    def add_arguments(self, parser):
        parser.add_argument("deployment")
        parser.add_argument("environment")
        parser.add_argument("--name", default="", help="A name to recognise the token by.")
        add_lifetime_arguments(parser, default=None)

    def handle(self, *args, deployment: str, environment: str, name: str, **options):
        days = lifetime(options, default=None)
        env = (
            Environment.objects.select_related("deployment")
            .filter(deployment__name=deployment, name=environment)
            .first()
        )
        if env is None:
            raise CommandError(f"No environment {environment!r} in a deployment {deployment!r}.")
        _, raw = services.create_runtime_token(
            environment=env,
            name=name,
            expires_in_days=days,
            actor=Actor.system("manage.py create_runtime_token"),
        )
        self.stdout.write(raw)
