"""gunicorn's settings for production: `gunicorn -c gunicorn.conf.py project.wsgi`.

Chosen by measurement on 2 cores (docs/performance.md, `make bench` reruns them). Each can be
overridden on the command line (`--workers 8`) or with GUNICORN_CMD_ARGS.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# Sync workers, two per core: a request holds its worker for its database round trips, so
# one per core leaves the CPU idle while waiting on PostgreSQL; more than two per core only
# adds PostgreSQL connections (each worker keeps one, CONN_MAX_AGE) and memory.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * len(os.sched_getaffinity(0))))
worker_class = "sync"

# A boot storm opens a connection per instance at once: the listen queue holds them until a
# worker is free rather than refusing them (the kernel caps it at net.core.somaxconn).
backlog = 4096

# Behind a load balancer that reuses connections: longer than its idle timeout.
keepalive = 75 if worker_class == "gthread" else 2

# A fetch that takes this long is stuck: the worker is restarted.
timeout = 30
graceful_timeout = 20

# Requests go to the log as a path, never with a query string or a header.
accesslog = None
errorlog = "-"
