from django.apps import AppConfig


class EnvironmentsConfig(AppConfig):
    name = "environments"
    verbose_name = "MIOSA Environments"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed

        from .auth_audit import record_failed_login

        user_login_failed.connect(record_failed_login, dispatch_uid="environments.auth_audit")
