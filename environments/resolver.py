"""The one resolver of shared groups and references (SPEC §19).

A value may contain `${{ KEY }}` (the same environment, bindings and linked groups included; in
a group, the same group), `${{ group.KEY }}` and `${{ environment.KEY }}`; `$${{` is a literal
`${{`. An environment's key comes from its own variable or binding, else from the last linked
group that has it.

Everything that shows or serves a value resolved from a group or through a reference reads
what this module computed when the configuration was written: the services keep each
environment's resolved keys as config entries (kind `resolved`) of its revisions, so the
runtime, previews, reveal, compare, export and releases all read the same bytes. This module
only reads: `World` loads a deployment's groups and environments (a fixed number of queries
per round of references followed, whatever the number of keys, groups or references) and
resolves them; refusals raise `ReferenceProblem`, naming the chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q

from . import crypto, rules
from .models import ConfigEntry, Environment, Group, GroupEntry, GroupLink

MAX_DEPTH = 10  # references followed from a value, at most
OPEN = "${{"
ESCAPED = "$${{"

ENVIRONMENT = "environment"
GROUP = "group"

_REFERENCE = re.compile(
    r"\$\{\{\s*(?:(?P<scope>[a-z0-9][a-z0-9._/-]*)\.)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*\}\}"
)


# Parsing


@dataclass(frozen=True)
class Reference:
    scope: str | None  # None: the value's own environment or group
    key: str
    text: str


def has_references(text: str) -> bool:
    """Whether resolving `text` may give anything but `text` itself."""
    return OPEN in text


def parse(text: str) -> list[str | Reference]:
    """`text` as literal pieces and references; a `${{` that opens no reference is refused
    (ValueError): `$${{` writes a literal one."""
    parts: list[str | Reference] = []
    pos = 0
    while True:
        at = text.find(OPEN, pos)
        if at < 0:
            parts.append(text[pos:])
            return [p for p in parts if p != ""]
        if at > pos and text[at - 1] == "$":
            parts.append(text[pos : at - 1] + OPEN)
            pos = at + len(OPEN)
            continue
        match = _REFERENCE.match(text, at)
        if match is None:
            raise ValueError(
                "${{ opens no reference here: write ${{ KEY }}, ${{ group.KEY }} or "
                "${{ environment.KEY }}, or $${{ for a literal ${{."
            )
        parts.append(text[pos:at])
        parts.append(Reference(match["scope"], match["key"], match[0]))
        pos = match.end()


def references(text: str) -> list[Reference]:
    """The references in `text` (none if it cannot be parsed)."""
    if not has_references(text):
        return []
    try:
        return [p for p in parse(text) if isinstance(p, Reference)]
    except ValueError:
        return []


# What a refusal says


class ReferenceProblem(Exception):
    """A value that cannot be resolved: the code the API answers with, its status, and the
    chain of keys that leads to it (names only, never a value)."""

    def __init__(self, code: str, message: str, *, chain: Iterable[str] = (), status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.chain = list(chain)
        self.status = status


def _arrow(chain: Iterable[str]) -> str:
    return " → ".join(chain)


# What is read


@dataclass(frozen=True)
class Scope:
    kind: str  # ENVIRONMENT or GROUP
    name: str
    pk: int

    def label(self, key: str) -> str:
        return f"{self.name}.{key}"


@dataclass
class Raw:
    """A value as written: an environment's variable or binding, or a group's variable."""

    scope: Scope
    key: str
    source: str  # "own", "binding" or "group"
    is_secret: bool
    revision: int
    fingerprint: bytes
    ciphertext: bytes = b""
    context: str = ""
    plaintext: str | None = None

    def text(self, keyring: crypto.Keyring) -> str:
        """The value (decrypted once); crypto.DecryptionError if it cannot be."""
        if self.plaintext is None:
            self.plaintext = crypto.decrypt(self.ciphertext, context=self.context, keyring=keyring)
        return self.plaintext


@dataclass(frozen=True)
class Resolved:
    """A key as the runtime gets it."""

    key: str
    value: str
    is_secret: bool  # its own, or any value it references is a secret
    raw: Raw  # what defines the key
    reads: frozenset[tuple[str, str, str]]  # every (kind, scope, key) read, its own included
    depth: int  # references followed below it, at most
    deepest: tuple[str, ...] = ()  # the longest chain below it

    @property
    def origin(self) -> str:
        """The group the key comes from ('' for an environment's own)."""
        return self.raw.scope.name if self.raw.scope.kind == GROUP else ""

    @property
    def source(self) -> str:
        return self.raw.source


@dataclass(frozen=True)
class Step:
    """One step of a key's chain (`explain`): where a value is written, its revision."""

    depth: int
    source: str  # "own", "binding", "group" or "environment" (another environment's)
    scope: str
    key: str
    revision: int
    is_secret: bool
    raw: Raw = field(repr=False, compare=False)


@dataclass
class _EnvironmentState:
    scope: Scope
    revision: int
    resolved_count: int
    groups: list[str] = field(default_factory=list)
    values: dict[str, Raw] | None = None  # own variables and bindings, once loaded


@dataclass
class _GroupState:
    scope: Scope
    revision: int
    values: dict[str, Raw] | None = None


class World:
    """A deployment's environments and groups as they are now, loaded as resolution needs them.

    Three queries name the environments, the groups and the links; then each round of loading
    reads the values of every environment and group the round needs in two queries. Rounds
    follow references into environments and groups not loaded yet, so their number is bounded
    by the depth of the references, never by the number of keys, groups or references.

    `overrides` stands in values for one environment's own variables ({key: (value,
    is_secret)}), and `removed` drops some: what a write would make, checked before it
    (an import's dry run).
    """

    def __init__(
        self,
        deployment_id: int,
        *,
        keyring: crypto.Keyring | None = None,
        overrides: dict[str, dict[str, tuple[str, bool]]] | None = None,
    ) -> None:
        self.deployment_id = deployment_id
        self.keyring = keyring or crypto.get_keyring()
        self.overrides = overrides or {}
        self.environments: dict[str, _EnvironmentState] = {}
        self.groups: dict[str, _GroupState] = {}
        for pk, name, revision, count in Environment.objects.filter(
            deployment_id=deployment_id
        ).values_list("pk", "name", "config_revision", "resolved_count"):
            self.environments[name] = _EnvironmentState(
                Scope(ENVIRONMENT, name, pk), revision, count
            )
        by_pk: dict[int, str] = {}
        for pk, name, revision in Group.objects.filter(deployment_id=deployment_id).values_list(
            "pk", "name", "revision"
        ):
            self.groups[name] = _GroupState(Scope(GROUP, name, pk), revision)
            by_pk[pk] = name
        env_names = {state.scope.pk: name for name, state in self.environments.items()}
        for environment_id, group_id in (
            GroupLink.objects.filter(environment__deployment_id=deployment_id)
            .order_by("environment_id", "position")
            .values_list("environment_id", "group_id")
        ):
            if environment_id in env_names and group_id in by_pk:
                self.environments[env_names[environment_id]].groups.append(by_pk[group_id])
        self._memo: dict[tuple[str, str, str], Resolved] = {}

    # Loading

    def sharing(self) -> list[str]:
        """The environments that link a group or have resolved keys: those a change elsewhere
        may change."""
        return sorted(
            name
            for name, state in self.environments.items()
            if state.groups or state.resolved_count or name in self.overrides
        )

    def load(self, environments: Iterable[str] = (), groups: Iterable[str] = ()) -> None:
        """Load the values of these environments and groups, and of everything their values
        reference, round by round."""
        want_envs = {n for n in environments if n in self.environments}
        want_groups = {n for n in groups if n in self.groups}
        while want_envs or want_groups:
            envs = [self.environments[n] for n in want_envs if self.environments[n].values is None]
            for state in envs:
                want_groups.update(state.groups)
            grps = [self.groups[n] for n in want_groups if self.groups[n].values is None]
            self._load_environments(envs)
            self._load_groups(grps)
            want_envs, want_groups = set(), set()
            for state in [*envs, *grps]:
                for raw in (state.values or {}).values():
                    if raw.source == "binding":
                        continue
                    try:
                        text = raw.text(self.keyring)
                    except crypto.DecryptionError:
                        continue  # resolving it says so; loading goes on
                    for ref in references(text):
                        if ref.scope in self.groups and self.groups[ref.scope].values is None:
                            want_groups.add(ref.scope)
                        elif (
                            ref.scope in self.environments
                            and self.environments[ref.scope].values is None
                        ):
                            want_envs.add(ref.scope)

    def _load_environments(self, states: list[_EnvironmentState]) -> None:
        if not states:
            return
        by_pk = {s.scope.pk: s for s in states}
        for state in states:
            state.values = {}
        rows = ConfigEntry.objects.filter(
            environment_id__in=by_pk,
            end_revision__isnull=True,
            kind__in=(ConfigEntry.Kind.VARIABLE, ConfigEntry.Kind.BINDING),
        ).values_list(
            "environment_id",
            "kind",
            "key",
            "is_secret",
            "ciphertext",
            "fingerprint",
            "set_revision",
        )
        for environment_id, kind, key, is_secret, ciphertext, fingerprint, revision in rows:
            state = by_pk[environment_id]
            state.values[key] = Raw(
                scope=state.scope,
                key=key,
                source="binding" if kind == ConfigEntry.Kind.BINDING else "own",
                is_secret=is_secret or kind == ConfigEntry.Kind.BINDING,
                revision=revision,
                fingerprint=bytes(fingerprint),
                ciphertext=bytes(ciphertext),
                context=crypto.entry_context(
                    self.deployment_id, environment_id, kind, key, revision
                ),
            )
        for state in states:
            for key, change in self.overrides.get(state.scope.name, {}).items():
                if change is None:
                    state.values.pop(key, None)
                    continue
                value, is_secret = change
                state.values[key] = Raw(
                    scope=state.scope,
                    key=key,
                    source="own",
                    is_secret=is_secret,
                    revision=state.revision + 1,
                    fingerprint=b"",
                    plaintext=value,
                )

    def _load_groups(self, states: list[_GroupState]) -> None:
        if not states:
            return
        by_pk = {s.scope.pk: s for s in states}
        for state in states:
            state.values = {}
        rows = GroupEntry.objects.filter(group_id__in=by_pk, end_revision__isnull=True).values_list(
            "group_id", "key", "is_secret", "ciphertext", "fingerprint", "set_revision"
        )
        for group_id, key, is_secret, ciphertext, fingerprint, revision in rows:
            state = by_pk[group_id]
            state.values[key] = Raw(
                scope=state.scope,
                key=key,
                source="group",
                is_secret=is_secret,
                revision=revision,
                fingerprint=bytes(fingerprint),
                ciphertext=bytes(ciphertext),
                context=crypto.group_entry_context(self.deployment_id, group_id, key, revision),
            )

    # Resolving

    def provider(self, scope: Scope, key: str) -> Raw | None:
        """What defines `key` in `scope`: an environment's own variable or binding, else its
        last linked group that has it; a group's own variable."""
        if scope.kind == GROUP:
            state = self.groups[scope.name]
            self.load(groups=[scope.name])
            return state.values.get(key)
        env = self.environments[scope.name]
        self.load(environments=[scope.name])
        if key in env.values:
            return env.values[key]
        for name in reversed(env.groups):
            raw = self.groups[name].values.get(key)
            if raw is not None:
                return raw
        return None

    def keys(self, scope: Scope) -> list[str]:
        if scope.kind == GROUP:
            self.load(groups=[scope.name])
            return sorted(self.groups[scope.name].values)
        self.load(environments=[scope.name])
        env = self.environments[scope.name]
        keys = set(env.values)
        for name in env.groups:
            keys.update(self.groups[name].values)
        return sorted(keys)

    def scope_named(self, name: str) -> Scope | None:
        if name in self.groups:
            return self.groups[name].scope
        if name in self.environments:
            return self.environments[name].scope
        return None

    def environment(self, name: str) -> dict[str, Resolved]:
        """Every key of the environment, resolved; ReferenceProblem for the first that cannot
        be."""
        scope = self.environments[name].scope
        return {key: self.resolve(scope, key) for key in self.keys(scope)}

    def group(self, name: str) -> dict[str, Resolved]:
        scope = self.groups[name].scope
        return {key: self.resolve(scope, key) for key in self.keys(scope)}

    def resolve(self, scope: Scope, key: str) -> Resolved:
        raw = self.provider(scope, key)
        if raw is None:
            raise ReferenceProblem(
                "unknown_reference", f"{scope.name} has no {key}.", chain=[scope.label(key)]
            )
        return self._resolve_raw(raw, [], scope.label(key))

    def _resolve_raw(self, raw: Raw, stack: list[tuple[str, str]], label: str) -> Resolved:
        node = (raw.scope.kind, raw.scope.name, raw.key)
        memo = self._memo.get(node)
        chain = [name for _, name in stack] + [label]
        if memo is not None:
            if len(stack) + memo.depth > MAX_DEPTH:
                self._too_deep(chain[:-1] + list(memo.deepest))
            return memo
        if any(n == node for n, _ in stack):
            start = next(i for i, (n, _) in enumerate(stack) if n == node)
            cycle = [name for _, name in stack[start:]] + [label]
            raise ReferenceProblem(
                "reference_cycle",
                f"These references go round in a cycle: {_arrow(cycle)}.",
                chain=cycle,
            )
        if len(stack) > MAX_DEPTH:
            self._too_deep(chain)
        try:
            text = raw.text(self.keyring)
        except crypto.DecryptionError:
            raise ReferenceProblem(
                "undecryptable",
                f"{label} cannot be decrypted with the configured keys.",
                chain=chain,
                status=503,
            ) from None
        reads = {node}
        is_secret = raw.is_secret
        depth = 0
        deepest: tuple[str, ...] = (label,)
        if raw.source == "binding" or not has_references(text):
            value = text
        else:
            try:
                parts = parse(text)
            except ValueError as exc:
                raise ReferenceProblem(
                    "invalid_reference", f"{label}: {exc}", chain=chain
                ) from None
            pieces: list[str] = []
            for part in parts:
                if isinstance(part, str):
                    pieces.append(part)
                    continue
                target, target_label = self._target(raw, part, chain)
                inner = self._resolve_raw(target, [*stack, (node, label)], target_label)
                pieces.append(inner.value)
                reads |= inner.reads
                is_secret = is_secret or inner.is_secret
                if inner.depth + 1 > depth:
                    depth = inner.depth + 1
                    deepest = (label, *inner.deepest)
            value = "".join(pieces)
        if len(value.encode()) > rules.MAX_VALUE_BYTES:
            raise ReferenceProblem(
                "resolved_value_too_large",
                f"{label} would resolve to more than {rules.MAX_VALUE_BYTES} bytes (32 KiB): "
                f"{_arrow(chain)}.",
                chain=chain,
            )
        resolved = Resolved(
            key=raw.key,
            value=value,
            is_secret=is_secret,
            raw=raw,
            reads=frozenset(reads),
            depth=depth,
            deepest=deepest,
        )
        self._memo[node] = resolved
        return resolved

    def _too_deep(self, chain: list[str]) -> None:
        raise ReferenceProblem(
            "reference_too_deep",
            f"References go more than {MAX_DEPTH} deep: {_arrow(chain)}.",
            chain=chain,
        )

    def _target(self, raw: Raw, ref: Reference, chain: list[str]) -> tuple[Raw, str]:
        """What a reference in `raw`'s value names, and its label; refusals name the chain."""
        if ref.scope is None:
            scope = raw.scope
        else:
            scope = self.scope_named(ref.scope)
            if scope is None:
                raise ReferenceProblem(
                    "unknown_reference",
                    f"{_arrow([*chain, f'{ref.scope}.{ref.key}'])}: there is no environment or "
                    f"group named {ref.scope}.",
                    chain=[*chain, f"{ref.scope}.{ref.key}"],
                )
        label = scope.label(ref.key)
        if (
            scope.kind == ENVIRONMENT
            and scope.name == rules.PRODUCTION
            and not (raw.scope.kind == ENVIRONMENT and raw.scope.name == rules.PRODUCTION)
        ):
            raise ReferenceProblem(
                "production_reference",
                f"{_arrow([*chain, label])}: only production itself may reference production's "
                "values.",
                chain=[*chain, label],
                status=409,
            )
        target = self.provider(scope, ref.key)
        if target is None:
            raise ReferenceProblem(
                "unknown_reference",
                f"{_arrow([*chain, label])}: {scope.name} has no {ref.key}.",
                chain=[*chain, label],
            )
        return target, label

    # Explaining

    def explain(self, environment: str, key: str) -> list[Step]:
        """The chain of one key, depth first: where each value it reads is written."""
        scope = self.environments[environment].scope
        raw = self.provider(scope, key)
        if raw is None:
            raise ReferenceProblem(
                "unknown_reference", f"{environment} has no {key}.", chain=[scope.label(key)]
            )
        self.resolve(scope, key)  # refusals first
        steps: list[Step] = []

        def walk(raw: Raw, depth: int) -> None:
            if raw.scope.kind == GROUP:
                source = "group"
            elif raw.scope != scope:
                source = "environment"
            else:
                source = raw.source  # "own" or "binding"
            steps.append(
                Step(
                    depth=depth,
                    source=source,
                    scope=raw.scope.name,
                    key=raw.key,
                    revision=raw.revision,
                    is_secret=self._memo[(raw.scope.kind, raw.scope.name, raw.key)].is_secret,
                    raw=raw,
                )
            )
            if raw.source == "binding":
                return
            for ref in references(raw.text(self.keyring)):
                target, _ = self._target(raw, ref, [])
                walk(target, depth + 1)

        walk(raw, 0)
        return steps

    def read_revisions(
        self, resolved: Iterable[Resolved], *, environment: str
    ) -> dict[str, dict[str, int]]:
        """The revisions of the groups and other environments an environment's keys read."""
        groups: dict[str, int] = {}
        environments: dict[str, int] = {}
        for item in resolved:
            for kind, name, _key in item.reads:
                if kind == GROUP:
                    groups[name] = self.groups[name].revision
                elif name != environment:
                    environments[name] = self.environments[name].revision
        return {
            "groups": dict(sorted(groups.items())),
            "environments": dict(sorted(environments.items())),
        }


def live_resolved_entries(environment_ids: Iterable[int]):
    """The resolved entries live now of these environments (without their values)."""
    return ConfigEntry.objects.filter(
        Q(environment_id__in=list(environment_ids)),
        kind=ConfigEntry.Kind.RESOLVED,
        end_revision__isnull=True,
    ).defer("ciphertext")
