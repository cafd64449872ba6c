"""docs/api.md has a curl example for every operation of the OpenAPI document."""

from __future__ import annotations

import re
from pathlib import Path

from environments.api.openapi import DOCUMENT

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
PARAMETER = {
    "deployment_id": r"\$D",
    "name": r"[a-z0-9][a-z0-9/._-]*",
    "key": r"[A-Za-z_][A-Za-z0-9_]*",
    "binding_id": r"[0-9]+",
    "hostname": r"[a-z0-9.-]+",
    "token_id": r"[0-9]+",
    "service_id": r"[0-9]+",
    "rotation_id": r"[0-9]+",
    "policy_id": r"[0-9]+",
    "cid": r"[0-9]+",
    "webhook_id": r"[0-9]+",
    "delivery_id": r"[0-9]+",
    "group": r"[a-z0-9][a-z0-9-]*",
}


def _curl_commands(text: str) -> list[tuple[str, str]]:
    """(method, path after $API) of every curl command in the document's code blocks."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            for command in re.split(r"(?=\bcurl )", line)[1:]:
                command = command.split(" | ")[0]  # not the options of what it pipes into
                url = re.search(r"\$API(/[^\s\"'?]*)", command)
                if url is None:
                    continue
                verb = re.search(r" -X (\w+)", command)
                if verb:
                    method = verb.group(1)
                elif re.search(r" (-d|--data-binary) ", command):
                    method = "POST"
                elif re.search(r" -s?I ", command):
                    method = "HEAD"
                else:
                    method = "GET"
                commands.append((method, url.group(1)))
    return commands


def test_every_operation_has_a_curl_example():
    commands = _curl_commands(DOC.read_text())
    missing = []
    for template, item in DOCUMENT["paths"].items():
        pattern = re.escape(template)
        for name, regex in PARAMETER.items():
            pattern = pattern.replace(re.escape("{" + name + "}"), regex)
        for method in item:
            if method == "parameters":
                continue
            if not any(m == method.upper() and re.fullmatch(pattern, path) for m, path in commands):
                missing.append(f"{method.upper()} {template}")
    assert missing == []


def test_the_examples_are_found_at_all():
    commands = _curl_commands(DOC.read_text())
    assert ("DELETE", "/deployments/$D/environments/preview/pr-42") in commands
    assert len(commands) >= 30
