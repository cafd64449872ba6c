"""gunicorn's settings for production: `gunicorn -c gunicorn.conf.py project.wsgi`.

Chosen by measurement on 2 cores with `make bench BENCH_ARGS=--tune` (docs/performance.md).
Each can be overridden on the command line (`--workers 8`) or with GUNICORN_CMD_ARGS.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# Threaded workers, one per core, four threads each. A runtime fetch spends much of its time
# waiting on PostgreSQL (its audit event's commit above all); threads overlap those waits, and
# answer on kept-alive connections. Measured against sync workers (2, 4 and 8) and 4 x 2
# threads: the most fetches a second and the shortest boot storm. Each thread keeps its own
# PostgreSQL connection (CONN_MAX_AGE): workers x threads x servers connections.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", len(os.sched_getaffinity(0))))
threads = int(os.environ.get("GUNICORN_THREADS", 4))

# A boot storm opens a connection per instance at once: the listen queue holds them until a
# thread is free rather than refusing them (the kernel caps it at net.core.somaxconn).
backlog = 4096

# Longer than a load balancer's idle timeout, so it is the balancer that closes idle
# connections (never one it is about to reuse).
keepalive = 75

# A fetch that takes this long is stuck: the worker is restarted.
timeout = 30
graceful_timeout = 20

# No access log: requests reach the log as the errors Django logs, never with a query string
# or a header.
accesslog = None
errorlog = "-"
