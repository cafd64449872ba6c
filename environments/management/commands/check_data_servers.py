from django.core.management.base import BaseCommand

from environments import selectors, services


class Command(BaseCommand):
    help = (
        "Run every data server's health check; print one line per server: its name, kind and "
        "version, or its error (never a URL). Exits 1 when one is unhealthy."
    )

    def handle(self, *args, **options):
        unhealthy = 0
        for server in selectors.data_servers():
            server = services.check_data_server(server=server)
            if server.error:
                unhealthy += 1
                self.stdout.write(f"{server.name} {server.kind} error: {server.error}")
            else:
                self.stdout.write(f"{server.name} {server.kind} {server.version}")
        if unhealthy:
            raise SystemExit(1)
