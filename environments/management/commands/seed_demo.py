from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from environments import services
from environments.actors import Actor
from environments.models import Deployment, Environment, Version

DEMO_NAME = "shop"
DEMO_APEX = "shop.example.com"

# (environment, key, value, is_secret). The secret values are fake, but tests treat them as
# canaries: none may appear in a page, an API response other than the runtime endpoint, a log
# line, or the raw database file.
DEMO_VARIABLES = [
    ("production", "API_URL", "https://api.shop.example.com", False),
    ("production", "LOG_LEVEL", "warning", False),
    ("production", "FEATURE_NEW_CHECKOUT", "false", False),
    ("production", "STRIPE_SECRET_KEY", "sk_live_demo_51HsPr0dCanary7Q2", True),
    ("production", "SENTRY_DSN", "https://pr0dcanary@o1.ingest.example.com/1", True),
    ("staging", "API_URL", "https://api.staging.shop.example.com", False),
    ("staging", "LOG_LEVEL", "info", False),
    ("staging", "FEATURE_NEW_CHECKOUT", "true", False),
    ("staging", "STRIPE_SECRET_KEY", "sk_test_demo_51HsStagCanary8R3", True),
    ("preview/pr-42", "API_URL", "https://api.preview-pr-42.shop.example.com", False),
    ("preview/pr-42", "LOG_LEVEL", "debug", False),
    ("preview/pr-42", "FEATURE_NEW_CHECKOUT", "true", False),
    ("preview/pr-42", "STRIPE_SECRET_KEY", "sk_test_demo_51HsPrevCanary9S4", True),
]

DEMO_BINDINGS = [
    ("production", "postgres", "shop-db", "postgres://app:pr0d-pg-canary-pw@db.internal:5432/shop"),
    (
        "production",
        "redis",
        "shop-cache",
        "redis://default:pr0d-redis-canary-pw@cache.internal:6379/0",
    ),
    (
        "staging",
        "postgres",
        "shop-db-staging",
        "postgres://app:stag-pg-canary-pw@db-staging.internal:5432/shop",
    ),
    # A bucket whose credential rides in the query string, as presigned URLs do.
    (
        "staging",
        "bucket",
        "shop-assets-staging",
        "https://assets-staging.example.com/shop?X-Amz-Credential=AKIASTAGCANARY"
        "&X-Amz-Signature=stag-bucket-sig-canary",
    ),
]

DEMO_SECRET_VALUES = [v for _, _, v, secret in DEMO_VARIABLES if secret] + [
    "pr0d-pg-canary-pw",
    "pr0d-redis-canary-pw",
    "stag-pg-canary-pw",
    "AKIASTAGCANARY",
    "stag-bucket-sig-canary",
]

# A production change that waits for Apply (production stages its config changes).
DEMO_PENDING = ("LOG_LEVEL", "error")

DEMO_MEMBERS = [("ada", "owner"), ("grace", "admin"), ("linus", "developer"), ("val", "viewer")]

VERSION_LABELS = {
    16: "a91c2e0",
    17: "3f8d41b",
    18: "c07e9aa",
    19: "e5b2d13",
}


class Command(BaseCommand):
    help = "Load the demo deployment 'shop' (production v17, staging v18, preview/pr-42 v19)."

    @transaction.atomic
    def handle(self, *args, **options):
        actor = Actor.system("seed_demo")
        if not Deployment.objects.filter(name=DEMO_NAME).exists():
            self._create(actor)
        self.stdout.write(self._summary())

    def _create(self, actor: Actor) -> None:
        shop = services.create_deployment(name=DEMO_NAME, actor=actor)
        envs = {e.name: e for e in shop.environments.all()}
        envs["preview/pr-42"] = services.create_environment(
            deployment=shop, name="preview/pr-42", actor=actor
        )
        # Configuration first (one revision per environment), then the releases that carry it.
        for env_name, environment in envs.items():
            services.set_variables(
                environment=environment,
                items=[
                    services.VariableInput(key, value, is_secret)
                    for name, key, value, is_secret in DEMO_VARIABLES
                    if name == env_name
                ],
                actor=actor,
            )
        for env_name, kind, name, url in DEMO_BINDINGS:
            services.create_binding(
                environment=envs[env_name], kind=kind, name=name, url=url, actor=actor
            )
        services.set_apex_domain(deployment=shop, apex=DEMO_APEX, actor=actor)
        versions = {}
        for number in range(1, 20):
            versions[number] = services.create_version(
                deployment=shop,
                label=VERSION_LABELS.get(number, f"{number:07x}"),
                notes="Demo build." if number < 16 else f"Demo build {number}.",
                actor=actor,
            )
        # The usual path: each version goes to staging, then is promoted to production.
        running = None
        for number in (15, 16, 17):
            services.deploy_version(
                environment=envs["staging"], version=versions[number], actor=actor
            )
            services.promote(
                source=envs["staging"],
                version_number=number,
                expected_target_version=running,
                actor=actor,
            )
            running = number
        services.deploy_version(environment=envs["staging"], version=versions[18], actor=actor)
        services.deploy_version(
            environment=envs["preview/pr-42"], version=versions[19], actor=actor
        )
        # Production stages its config changes: one waits to be applied.
        services.set_variable(
            environment=envs["production"],
            key=DEMO_PENDING[0],
            value=DEMO_PENDING[1],
            is_secret=False,
            actor=actor,
        )
        # Demo teammates, one per role, without a usable password (they show on the members page).
        User = get_user_model()
        for username, role in DEMO_MEMBERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(username=username)
                user.set_unusable_password()
                user.save()
            services.set_member(deployment=shop, user=user, role=role, actor=actor)

    def _summary(self) -> str:
        environments = (
            Environment.objects.filter(deployment__name=DEMO_NAME)
            .select_related("active_version")
            .order_by("name")
        )
        parts = [
            f"{e.name} v{e.active_version.number}" if e.active_version else f"{e.name} -"
            for e in environments
        ]
        count = Version.objects.filter(deployment__name=DEMO_NAME).count()
        return f"{DEMO_NAME}: {', '.join(parts)} ({count} versions)"
