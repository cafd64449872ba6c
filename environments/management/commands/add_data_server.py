import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from environments import services
from environments.actors import Actor
from environments.errors import ServiceError
from environments.models import DataServer, Deployment


class Command(BaseCommand):
    help = (
        "Register a data server (SPEC §13) after a health check and print its name and server "
        "version (only that). The admin URL is read from a file, never from the command line; "
        "use --url-file - to read it from standard input."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=DataServer.Kind.values)
        parser.add_argument("name")
        parser.add_argument(
            "--url-file", required=True, help="A file holding the admin URL (- for stdin)."
        )
        parser.add_argument(
            "--deployments",
            default="",
            help="Comma-separated deployment names that may use it (default: every deployment).",
        )

    def handle(self, *args, kind: str, name: str, url_file: str, deployments: str, **options):
        try:
            stdin = options.get("stdin", sys.stdin)
            text = stdin.read() if url_file == "-" else Path(url_file).read_text()
        except OSError as exc:
            raise CommandError(f"Cannot read {url_file}: {exc.strerror}.") from None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) != 1:
            raise CommandError(f"{url_file} must hold one URL on one line.")
        chosen = None
        if deployments.strip():
            names = sorted({n.strip() for n in deployments.split(",") if n.strip()})
            chosen = list(Deployment.objects.filter(name__in=names))
            missing = sorted(set(names) - {d.name for d in chosen})
            if missing:
                raise CommandError(f"No deployment named {', '.join(missing)}.")
        try:
            server = services.add_data_server(
                kind=kind,
                name=name,
                admin_url=lines[0],
                deployments=chosen,
                actor=Actor.system("manage.py add_data_server"),
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{server.name} {server.kind} {server.version}")
