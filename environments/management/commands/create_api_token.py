from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from environments import rules, services
from environments.actors import Actor
from environments.errors import ServiceError

from ._lifetime import add_lifetime_arguments, lifetime


class Command(BaseCommand):
    help = "Create a personal API token for USERNAME and print it (only the token)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="CLI token", help="A name to recognise the token by.")
        add_lifetime_arguments(parser, default=rules.TOKEN_DEFAULT_DAYS)

    def handle(self, *args, username: str, name: str, **options):
        days = lifetime(options, default=rules.TOKEN_DEFAULT_DAYS)
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        try:
            _, raw = services.create_api_token(
                user=user,
                name=name,
                expires_in_days=days,
                actor=Actor.system("manage.py create_api_token"),
            )
        except ServiceError as exc:  # too many live tokens
            raise CommandError(exc.message) from None
        self.stdout.write(raw)
