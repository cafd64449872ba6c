from django.apps import AppConfig


class EnvironmentsConfig(AppConfig):
    name = "environments"
    verbose_name = "MIOSA Environments"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed
        from django.db.models.signals import post_migrate

        from . import audit
        from .auth_audit import record_failed_login

        user_login_failed.connect(record_failed_login, dispatch_uid="environments.auth_audit")
        # Migration 0006 gives the global audit chain its head; a flush (`manage.py flush`, or
        # after each transactional test) empties the table, then sends post_migrate: put it back.
        post_migrate.connect(
            audit.start_global_chain,
            sender=self,
            dispatch_uid="environments.audit.start_global_chain",
        )
