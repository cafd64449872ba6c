from django.core.management.base import BaseCommand, CommandError

from environments import crypto, services
from environments.actors import Actor
from environments.errors import Undecryptable


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored value under the first key of ENCRYPTION_KEYS, in batches. "
        "Afterwards the other keys can be removed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            result = services.rotate_encryption_keys(
                actor=Actor.system("manage.py rotate_encryption_keys"), batch_size=batch_size
            )
        except Undecryptable as exc:
            raise CommandError(exc.message) from None
        primary = crypto.get_keyring().primary_id
        data = (
            f" and {result.data_credentials} data server or service credentials"
            if result.data_credentials
            else ""
        )
        if result.rotations:
            data += f" and {result.rotations} credential rotations"
        if result.webhooks:
            data += f" and {result.webhooks} webhook signing secrets"
        self.stdout.write(
            f"re-encrypted {result.variables} variables, {result.bindings} bindings and "
            f"{result.history} history values{data} under "
            f"key {primary}; {result.unchanged} already current"
        )
