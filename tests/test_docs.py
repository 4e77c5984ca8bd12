"""Keep the documentation in step with the code: settings, CLI, routes, links and the quickstart."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from heliograph.app import create_app
from heliograph.cli.main import cli
from heliograph.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
DOC_FILES = [README, *sorted(DOCS.glob("*.md"))]

_CODE_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# Markdown links [text](target); images and autolinks are not used in these docs.
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$", re.MULTILINE)


def _code_blocks(path: Path) -> list[tuple[str, str]]:
    return [(lang, body) for lang, body in _CODE_BLOCK.findall(path.read_text(encoding="utf-8"))]


def _prose(path: Path) -> str:
    """The text outside code blocks (headings inside a code block are comments, not anchors)."""
    return _CODE_BLOCK.sub("", path.read_text(encoding="utf-8"))


def _anchor(heading: str) -> str:
    """GitHub's heading slug: lower-case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_anchor(heading) for heading in _HEADING.findall(_prose(path))}


def _walk(command: click.Command, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            found.extend(_walk(sub, (*path, name)))
    return found


CLI_COMMANDS = _walk(cli, ("heliograph",))


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented_with_its_env_var(name: str) -> None:
    text = CONFIGURATION.read_text(encoding="utf-8")
    assert f"`{name}`" in text, f"setting {name!r} is missing from docs/configuration.md"
    env_var = f"HELIOGRAPH_{name.upper()}"
    assert f"`{env_var}`" in text, f"{env_var} is missing from docs/configuration.md"


@pytest.mark.parametrize(("path", "command"), CLI_COMMANDS, ids=[" ".join(path) for path, _ in CLI_COMMANDS])
def test_every_cli_command_and_option_is_documented(path: tuple[str, ...], command: click.Command) -> None:
    text = CONFIGURATION.read_text(encoding="utf-8")
    if len(path) > 1:
        assert " ".join(path) in text, f"command {' '.join(path)!r} is missing from docs/configuration.md"
    for param in command.params:
        if isinstance(param, click.Option):
            for flag in param.opts:
                assert flag in text, f"{' '.join(path)} {flag} is missing from docs/configuration.md"
        else:
            metavar = (param.name or "").upper()
            assert metavar in text, (
                f"{' '.join(path)} argument {metavar} is missing from docs/configuration.md"
            )


def _api_routes(tmp_path: Path) -> list[tuple[str, str]]:
    app = create_app(Settings(data_dir=tmp_path / "data"))
    paths: dict[str, dict[str, object]] = app.openapi()["paths"]
    return sorted(
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(("/v1/request", "/v1/trace"))
        for method in operations
    )


def test_every_request_and_trace_route_is_documented(tmp_path: Path) -> None:
    docs = "\n".join(path.read_text(encoding="utf-8") for path in DOCS.glob("*.md"))
    routes = _api_routes(tmp_path)
    assert len(routes) >= 15  # the 10 Request and 5 Trace endpoints, plus /v1/traces
    missing = [f"{method} {path}" for method, path in routes if f"{method} {path}" not in docs]
    assert not missing, f"routes missing from docs/: {missing}"


def test_readme_has_the_ci_test_command() -> None:
    ci_commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("python -m pytest")
    ]
    assert ci_commands, ".ci/run no longer runs pytest"
    readme_lines = {
        line.strip() for lang, body in _code_blocks(README) if lang == "bash" for line in body.splitlines()
    }
    for command in ci_commands:
        assert command in readme_lines, f"README has no code line {command!r} (the command .ci/run runs)"


@pytest.mark.parametrize("doc", DOC_FILES, ids=[path.name for path in DOC_FILES])
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in _LINK.findall(_prose(doc)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # http:, https:, mailto:
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.is_file() or (anchor and linked.suffix == ".md" and anchor not in _anchors(linked)):
            broken.append(target)
    assert not broken, f"broken links in {doc.relative_to(ROOT)}: {broken}"


def _readme_json_bodies() -> list[str]:
    bodies = []
    for lang, body in _code_blocks(README):
        if lang == "json":
            bodies.append(body)
        elif lang == "bash":
            # curl's -d '<json>' arguments (the quickstart's bodies contain no single quotes).
            bodies.extend(re.findall(r"-d '(.*?)'", body, re.DOTALL))
    return bodies


def test_readme_json_bodies_parse() -> None:
    bodies = _readme_json_bodies()
    assert len(bodies) >= 3  # the span, the query, and the abridged answer
    for body in bodies:
        json.loads(body)
