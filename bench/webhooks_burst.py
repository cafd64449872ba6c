"""A burst of releases delivered by webhook (SPEC §17): N config changes in an immediate
environment (each a release, each a release.created delivery written in its transaction), then
real `manage.py db_worker` processes drain the queue into a receiver on 127.0.0.1 that verifies
every signature with the `standardwebhooks` library. Reports the time to write the releases,
the time to deliver them all, and checks that none is lost or sent twice and the queue is
drained.

    .venv/bin/python bench/webhooks_burst.py [N] [WORKERS]        # throwaway SQLite; 1000, 2
    DATABASE_URL=postgres://… .venv/bin/python bench/webhooks_burst.py 1000 4
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.mkdtemp(prefix="miosa-bench-webhooks-")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP}/bench.sqlite3")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["DEBUG"] = "false"
os.environ["WEBHOOK_ALLOW_PRIVATE"] = "true"  # the receiver is on 127.0.0.1

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.tasks import TaskResultStatus  # noqa: E402
from django_tasks_db.models import DBTaskResult  # noqa: E402
from standardwebhooks import Webhook  # noqa: E402

from environments import services  # noqa: E402
from environments.actors import Actor  # noqa: E402
from environments.models import WebhookDelivery  # noqa: E402
from environments.services import webhooks as webhook_services  # noqa: E402


class Receiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: list[str] = []
        self.releases: list[int] = []
        self.bad = 0
        self.secret = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                except Exception:
                    event = None
                with receiver.lock:
                    if event is None:
                        receiver.bad += 1
                    else:
                        receiver.ids.append(self.headers["webhook-id"])
                        receiver.releases.append(event["data"]["release"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def main(count: int, workers: int) -> int:
    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user("bench", password="bench-only-password")
    actor = Actor(user=user, label="bench")
    deployment = services.create_deployment(name="burst", actor=actor)
    staging = deployment.environments.get(name="staging")
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)

    receiver = Receiver()
    receiver.thread.start()
    hook = webhook_services.create_webhook(
        deployment=deployment, url=receiver.url, events=["release.created"], actor=actor
    )
    receiver.secret = hook.secret

    started = time.perf_counter()
    for n in range(count):
        services.set_variable(
            environment=staging, key="COUNTER", value=str(n), is_secret=False, actor=actor
        )
    written = time.perf_counter() - started
    assert WebhookDelivery.objects.count() == count
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == count
    connection.close()

    env = os.environ | {"PYTHONPATH": str(ROOT)}
    command = [sys.executable, "manage.py", "db_worker", "--interval", "0.05", "-v", "0"]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with receiver.lock:
                got = len(receiver.ids)
            if (
                got >= count
                and not DBTaskResult.objects.exclude(
                    status__in=[TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED]
                ).exists()
            ):
                break
            time.sleep(0.05)
        delivered_in = time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)
        receiver.server.shutdown()

    states = {
        s: WebhookDelivery.objects.filter(state=s).count() for s in WebhookDelivery.State.values
    }
    unfinished = DBTaskResult.objects.exclude(status=TaskResultStatus.SUCCESSFUL).count()
    print(f"{count} releases written in {written:.1f} s ({count / written:.0f}/s)")
    print(
        f"delivered by {workers} db_worker processes in {delivered_in:.1f} s "
        f"({count / delivered_in:.0f}/s)"
    )
    print(
        f"received {len(receiver.ids)}, distinct webhook-ids {len(set(receiver.ids))}, "
        f"distinct releases {len(set(receiver.releases))}, bad signatures {receiver.bad}"
    )
    print(f"deliveries by state {states}; tasks not successful: {unfinished}")
    ok = (
        len(receiver.ids) == len(set(receiver.ids)) == count
        and sorted(receiver.releases) == list(range(2, count + 2))
        and receiver.bad == 0
        and states["delivered"] == count
        and unfinished == 0
    )
    print("OK: none lost, none twice, queue drained" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    sys.exit(main(*(arguments + [1000, 2][len(arguments) :])))
