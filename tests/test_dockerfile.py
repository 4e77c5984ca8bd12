"""The container image's recipe (``Dockerfile``, ``.dockerignore``), checked without Docker (this machine
has no Docker daemon): it builds from the checkout's own files with nothing but the package registry,
runs the real CLI as a user of its own with the data directory on a volume, listens on every interface
of the container at the port it exposes, its health check is run against a real server (and fails when
none answers), and no secret or data file can reach an image layer.

What only a real ``docker build`` shows (the base image's contents, the wheels of every dependency for
its platform) is not covered here; docs/deployment.md says so."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from heliograph.cli.main import cli
from heliograph.settings import DEFAULT_PORT, Settings
from support.server import free_port, serve

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|DATABASE_URL|REDIS_URL", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    name: str
    args: str

    def words(self) -> list[str]:
        """The arguments, from the JSON (exec) form or split as a shell would."""
        text = self.args.strip()
        return list(json.loads(text)) if text.startswith("[") else shlex.split(text)


def _instructions() -> list[Instruction]:
    """The Dockerfile's instructions: comments dropped, ``\\`` continuations joined."""
    found: list[Instruction] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = pending + line
        pending = ""
        name, _, args = whole.strip().partition(" ")
        found.append(Instruction(name.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return found


def _stages() -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for instruction in _instructions():
        if instruction.name == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def _final() -> list[Instruction]:
    return _stages()[-1]


def _all(stage: list[Instruction], name: str) -> list[Instruction]:
    return [instruction for instruction in stage if instruction.name == name]


def _env(stage: list[Instruction]) -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction in _all(stage, "ENV"):
        for word in instruction.words():
            key, _, value = word.partition("=")
            values[key] = value
    return values


def _ignore_patterns() -> list[re.Pattern[str]]:
    patterns = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("!"), "exceptions would need Docker's full matcher: keep the list simple"
        # Docker's matching (Go's filepath.Match, plus ** for any number of directories).
        regex = re.escape(line).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        regex = regex.replace(r"\[", "[").replace(r"\]", "]")
        patterns.append(re.compile(regex))
    return patterns


def _ignored(path: str) -> bool:
    """Whether ``path`` (relative to the checkout) stays out of the build context: it, or a directory
    above it, matches a pattern."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    return any(pattern.fullmatch(prefix) for pattern in _ignore_patterns() for prefix in prefixes)


def test_it_builds_from_the_checkout_with_only_the_package_registry() -> None:
    stages = _stages()
    bases = [stage[0].words()[0] for stage in stages]
    # The official Python image, the same in both stages: the virtual environment is copied across.
    assert all(re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base) for base in bases), bases
    assert len(set(bases)) == 1, bases
    assert "ADD" not in {instruction.name for instruction in _instructions()}
    for run in _all([item for stage in stages for item in stage], "RUN"):
        assert not re.search(r"https?://|\bcurl\b|\bwget\b|\bgit\b", run.args), run.args
    build = stages[0]
    copied = [word for copy in _all(build, "COPY") for word in copy.words()[:-1]]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not _ignored(source), f"{source} is copied but .dockerignore leaves it out"
    # `pip install .` finds what setuptools reads: pyproject, its readme, and the package directory.
    installs = [run.args for run in _all(build, "RUN") if "pip install" in run.args]
    assert installs == ["/opt/heliograph/bin/pip install ."], installs
    package_root = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["where"][0]
    assert {"pyproject.toml", PYPROJECT["project"]["readme"], package_root} <= set(copied)
    # Package data (templates, static files, migrations, prices) is under the package: copied with it.
    package = ROOT / "src" / "heliograph"
    data = [
        path.relative_to(ROOT).as_posix()
        for pattern in PYPROJECT["tool"]["setuptools"]["package-data"]["heliograph"]
        for path in package.glob(pattern)
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert len(data) > 50
    assert [path for path in data if _ignored(path)] == []


def test_it_runs_the_cli_as_its_own_user_with_the_data_on_a_volume() -> None:
    final = _final()
    [user] = _all(final, "USER")
    assert user.args not in ("root", "0")
    assert any(
        "useradd" in run.args and run.args.split("&&")[0].split()[-1] == user.args
        for run in _all(final, "RUN")
    )
    env = _env(final)
    [volume] = _all(final, "VOLUME")
    assert volume.words() == [env["HELIOGRAPH_DATA_DIR"]]
    assert any(
        f"-o {user.args}" in run.args and env["HELIOGRAPH_DATA_DIR"] in run.args for run in _all(final, "RUN")
    )
    # Reachable from outside the container, on the port it declares.
    [expose] = _all(final, "EXPOSE")
    assert expose.words() == [str(DEFAULT_PORT)]
    settings = Settings(
        host=env["HELIOGRAPH_HOST"], port=env["HELIOGRAPH_PORT"], data_dir=env["HELIOGRAPH_DATA_DIR"]
    )
    assert (settings.host, settings.port) == ("0.0.0.0", DEFAULT_PORT)
    assert str(settings.data_dir) == env["HELIOGRAPH_DATA_DIR"]
    # The real command: the console script the package declares, and its `serve`.
    [entrypoint] = _all(final, "ENTRYPOINT")
    [command] = _all(final, "CMD")
    assert entrypoint.words() == ["heliograph"]
    assert "heliograph" in PYPROJECT["project"]["scripts"]
    assert command.words() == ["serve"]
    assert "serve" in cli.commands
    assert env["PATH"].startswith("/opt/heliograph/bin:")


def _healthcheck() -> list[str]:
    [check] = _all(_final(), "HEALTHCHECK")
    options, _, command = check.args.partition("CMD ")
    assert "--start-period" in options  # a first start migrates the database before it answers
    argv = json.loads(command)
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


def test_the_health_check_asks_the_server_and_fails_without_one(tmp_path: Path) -> None:
    argv = _healthcheck()
    # Served under a root path, as behind a proxy: the health check asks the server itself.
    env = {"HELIOGRAPH_ROOT_PATH": "/heliograph"}
    with serve(f"sqlite:///{tmp_path / 'health.db'}", tmp_path / "data", extra_env=env) as running:
        port = running.url.rsplit(":", 1)[1]
        healthy = subprocess.run(
            argv, env={"HELIOGRAPH_PORT": port}, capture_output=True, timeout=30, check=False
        )
        assert healthy.returncode == 0, healthy.stderr
    nobody = subprocess.run(
        argv, env={"HELIOGRAPH_PORT": str(free_port())}, capture_output=True, timeout=30, check=False
    )
    assert nobody.returncode != 0


def test_no_secret_or_data_can_reach_the_image() -> None:
    for instruction in _instructions():
        if instruction.name in ("ENV", "ARG"):
            names = [word.partition("=")[0] for word in instruction.words()]
            assert not [name for name in names if SECRET_NAME.search(name)], instruction
    for path in [
        ".git/config",
        ".venv/bin/python",
        "heliograph.db",
        "data/heliograph.db-wal",
        ".heliograph/secret-key",
        "some/dir/initial-api-key",
        "src/heliograph.egg-info/PKG-INFO",
        "src/heliograph/__pycache__/app.cpython-311.pyc",
        ".pytest_cache/v/cache/nodeids",
        "test-artifacts/ui/requests.png",
        ".env",
    ]:
        assert _ignored(path), path
