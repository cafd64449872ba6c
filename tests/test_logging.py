from __future__ import annotations

import logging

from django.db import connection
from django.test.utils import CaptureQueriesContext

from environments import services
from tests.conftest import CANARY
from tests.runtime import runtime_env


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.args}")


def test_writing_and_reading_a_secret_logs_neither_value_nor_ciphertext(
    production, actor, caplog, settings
):
    settings.DEBUG = True  # the setting that makes Django log SQL
    caplog.set_level(logging.DEBUG)
    sql_log = logging.getLogger("django.db.backends")
    collect = Collect()
    sql_log.addHandler(collect)
    try:
        with CaptureQueriesContext(connection):  # forces the debug cursor, as DEBUG would
            variable, _ = services.set_variable(
                environment=production, key="K", value=CANARY, is_secret=True, actor=actor
            )
            assert runtime_env(production)["K"] == CANARY
    finally:
        sql_log.removeHandler(collect)
    logged = "\n".join(collect.lines + [r.getMessage() + str(r.args) for r in caplog.records])
    assert CANARY not in logged
    assert bytes(variable.ciphertext).hex() not in logged
    assert collect.lines == []
