"""Property test (SPEC §9): for any sequence of set / delete / batch / apply / deploy / rollback,
what the runtime gets equals a simple in-memory model replaying the same operations."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from environments import selectors, services
from environments.errors import ServiceError
from environments.models import Environment

KEYS = ["A", "B", "C", "D"]
values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
operation = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(KEYS), values, st.booleans()),
    st.tuples(st.just("delete"), st.sampled_from(KEYS)),
    st.tuples(st.just("batch"), st.dictionaries(st.sampled_from(KEYS), values, min_size=1)),
    st.tuples(st.just("apply")),
    st.tuples(st.just("deploy")),
    st.tuples(st.just("rollback"), st.integers(min_value=1, max_value=4), st.booleans()),
)


@dataclass
class Model:
    """Revisions are snapshots of the whole configuration; releases point at one."""

    staged: bool
    revisions: list[dict[str, str]] = field(default_factory=lambda: [{}])  # revision 1 = {}
    releases: list[tuple[int, int]] = field(default_factory=list)  # (version, revision)
    versions: int = 0

    @property
    def head(self) -> int:
        return len(self.revisions)

    def write(self, config: dict[str, str]) -> None:
        self.revisions.append(config)
        if not self.staged and self.releases:
            self.releases.append((self.releases[-1][0], self.head))

    def served(self) -> tuple[int | None, dict[str, str]]:
        if not self.releases:
            return None, self.revisions[-1]
        version, revision = self.releases[-1]
        return version, self.revisions[revision - 1]


counter = itertools.count()


@pytest.mark.django_db
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(staged=st.booleans(), operations=st.lists(operation, max_size=20))
def test_the_runtime_serves_what_the_model_says(owner, staged, operations):
    actor = services.Actor(user=owner, label=owner.username)
    deployment = services.create_deployment(name=f"model-{next(counter)}", actor=actor)
    environment = services.create_environment(
        deployment=deployment,
        name="qa",
        actor=actor,
        config_changes="staged" if staged else "immediate",
    )
    model = Model(staged=staged)
    for op in operations:
        head = dict(model.revisions[-1])
        try:
            match op:
                case ("set", key, value, secret):
                    services.set_variable(
                        environment=environment,
                        key=key,
                        value=value,
                        is_secret=True if secret else None,
                        actor=actor,
                    )
                    model.write(head | {key: value})
                case ("delete", key):
                    services.delete_variable(environment=environment, key=key, actor=actor)
                    head.pop(key)
                    model.write(head)
                case ("batch", items):
                    services.set_variables(
                        environment=environment,
                        items=[services.VariableInput(k, v) for k, v in items.items()],
                        actor=actor,
                    )
                    model.write(head | items)
                case ("apply",):
                    services.apply_changes(environment=environment, actor=actor)
                    model.releases.append((model.releases[-1][0], model.head))
                case ("deploy",):
                    version = services.create_version(deployment=deployment, actor=actor)
                    model.versions += 1
                    services.deploy_version(environment=environment, version=version, actor=actor)
                    model.releases.append((version.number, model.head))
                case ("rollback", number, restore):
                    services.rollback(
                        environment=environment,
                        release=number,
                        config="restore" if restore else "keep",
                        actor=actor,
                    )
                    version, revision = model.releases[number - 1]
                    model.releases.append((version, revision if restore else model.head))
        except ServiceError:
            # Refused: the model must agree that it was refusable, and nothing changed.
            assert _refusable(op, model, head), op
        except KeyError:
            raise AssertionError(f"{op} succeeded but the model has no such key") from None
        fresh = Environment.objects.select_related("deployment", "live_release__version").get(
            pk=environment.pk
        )
        config = selectors.runtime_config(fresh)
        version, expected = model.served()
        got = {k: v for k, v in config.env.items() if not k.startswith("MIOSA_")}
        assert got == expected, op
        assert config.env.get("MIOSA_VERSION") == (str(version) if version else None)
        assert fresh.release_count == len(model.releases)
        assert fresh.config_revision == model.head


def _refusable(op, model: Model, head: dict[str, str]) -> bool:
    match op:
        case ("delete", key):
            return key not in head
        case ("apply",):
            return not model.releases or model.releases[-1][1] == model.head
        case ("rollback", number, restore):
            if number > len(model.releases):
                return True
            version, revision = model.releases[number - 1]
            target = (version, revision if restore else model.head)
            return target == model.releases[-1]
    return False
