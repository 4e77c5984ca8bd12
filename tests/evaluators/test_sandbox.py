"""The Python evaluator sandbox, run for real: each test starts real child processes under each
confinement this machine allows (namespaces as root, a user namespace, none) and checks what the code
inside could and could not do."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop
from click.testing import CliRunner

from heliograph.cli.main import cli
from heliograph.services.evaluators.inputs import EvaluationFailed
from heliograph.services.evaluators.sandbox import PythonRun, SandboxLimits, python_score, run_python
from heliograph.services.evaluators.sandbox_probe import (
    Confinement,
    check_confinement,
    describe_network_isolation,
    namespace_confinement,
    network_isolation,
    probe,
    without_namespaces,
)

T = TypeVar("T")
LIMITS = SandboxLimits(timeout_seconds=10, memory_mb=512, cpu_seconds=10, max_output_bytes=4096)
SHORT = SandboxLimits(timeout_seconds=1, memory_mb=512, cpu_seconds=10, max_output_bytes=4096)
# The first line every probing evaluator prints, so a test can find the run's directory and processes.
ANNOUNCE = "import os, sys\nprint(HELICONE_EXECUTION_ID, os.getuid(), flush=True)\n"


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def run(
    code: str, confinement: Confinement, limits: SandboxLimits = LIMITS, request: str = "{}"
) -> PythonRun:
    return _run(run_python(code, request, '{"choices": []}', limits, confinement=confinement))


@pytest.fixture(scope="session")
def usable() -> dict[str, str | None]:
    """Each namespace confinement's failure reason on this machine (None: it works), probed once."""
    reasons: dict[str, str | None] = {}
    for name, user_namespace in (("namespaces", False), ("user-namespace", True)):
        candidate = namespace_confinement(user_namespace=user_namespace)
        reasons[name] = (
            "util-linux unshare is not installed" if candidate is None else check_confinement(candidate)
        )
    return reasons


@pytest.fixture(params=["namespaces", "user-namespace", "no-namespaces", "server-user"])
def confinement(request: pytest.FixtureRequest, usable: dict[str, str | None]) -> Confinement:
    """Each way a run can be confined; "server-user" is the weakest (an unprivileged server without
    namespaces: the code keeps the server's user), here run as the test's own user."""
    if request.param == "no-namespaces":
        return without_namespaces()
    if request.param == "server-user":
        return Confinement((), own_user=False)
    if request.param == "namespaces" and os.geteuid() != 0:
        pytest.skip("namespaces with a user of its own per run need a root server")
    reason = usable[request.param]
    if reason is not None:
        pytest.skip(f"{request.param} unavailable here: {reason}")
    found = namespace_confinement(user_namespace=request.param == "user-namespace")
    assert found is not None
    return found


def _announced(result: PythonRun) -> tuple[str, int]:
    exec_id, uid = result.traces[0].split()
    return exec_id, int(uid)


def _live_processes(exec_id: str) -> list[int]:
    """Processes of a run still alive (not zombies): their command line carries the execution id."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if exec_id.encode() in cmdline and state not in ("Z", "X"):
            alive.append(int(entry))
    return alive


def _of_user(uid: int) -> list[int]:
    """Every process of a user, zombies included."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                found.append(int(entry))
        except OSError:
            continue
    return found


def _assert_nothing_left(result: PythonRun, confinement: Confinement) -> None:
    exec_id, uid = _announced(result)
    if confinement.own_user:
        # The supervisor killed and reaped all of them before it reported: not even a zombie is left.
        assert _of_user(uid) == []
    assert _wait_until_gone(exec_id) == []


def _wait_until_gone(exec_id: str) -> list[int]:
    """SIGKILL is delivered asynchronously: give killed processes a moment to leave the table."""
    deadline = time.monotonic() + 5
    while (alive := _live_processes(exec_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


@pytest.fixture
def outside_dir() -> Iterator[Path]:
    """A directory of the server's, outside every run's, that any user may enter and read."""
    path = Path(tempfile.mkdtemp(prefix="heliograph-outside-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def _requires_file_confinement(confinement: Confinement) -> None:
    if not confinement.namespaces and not confinement.own_user:
        pytest.skip("without namespaces and without root, the code runs as the server's own user")


# -- the contract ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [("true", True), (" FALSE\n", False), ("3", 3), ("-2", -2), ("2.5", 2.5), ("1e3", 1000.0)],
)
def test_python_score_reads_true_false_or_a_number(written: str, expected: bool | float) -> None:
    score = python_score(PythonRun(written, [], 0, None))
    assert score == expected
    assert type(score) is type(expected)


@pytest.mark.parametrize("written", ["", "  \n", "yes", "nan", "inf", "1 2"])
def test_python_score_rejects_anything_else(written: str) -> None:
    with pytest.raises(EvaluationFailed, match=r"output\.txt"):
        python_score(PythonRun(written, [], 0, None))


def test_python_score_reports_the_run_error() -> None:
    with pytest.raises(EvaluationFailed, match="timed out after 10 s"):
        python_score(PythonRun("true", [], None, "timed out after 10 s"))


@pytest.mark.parametrize("loop_run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_reads_request_and_response_by_relative_and_helicone_paths(
    confinement: Confinement, loop_run: Callable[[Coroutine[Any, Any, PythonRun]], PythonRun]
) -> None:
    code = (
        "import json, os\n"
        "here = json.load(open('request.json'))\n"
        "there = json.load(open(f'/tmp/{HELICONE_EXECUTION_ID}/request.json'))\n"
        "response = json.load(open(os.path.join(os.environ['HOME'], 'response.json')))\n"
        "assert os.environ['HELICONE_EXECUTION_ID'] == HELICONE_EXECUTION_ID\n"
        "assert os.getcwd() == f'/tmp/{HELICONE_EXECUTION_ID}'\n"
        "print('model', here['model'])\n"
        "with open(f'/tmp/{HELICONE_EXECUTION_ID}/output.txt', 'w') as out:\n"
        "    out.write(str(here['n'] + there['n'] + len(response['choices'])))\n"
    )
    request = json.dumps({"model": "gpt-4o-mini", "n": 20})
    result = loop_run(run_python(code, request, '{"choices": [1, 2]}', LIMITS, confinement=confinement))
    assert result.error is None, result.traces
    assert result.status_code == 0
    assert result.traces == ["model gpt-4o-mini"]
    assert python_score(result) == 42


@pytest.mark.parametrize(("written", "expected"), [("True", True), ("false", False), ("0.75", 0.75)])
def test_output_txt_is_the_score(confinement: Confinement, written: str, expected: bool | float) -> None:
    result = run(f"open('output.txt', 'w').write({written!r})", confinement)
    assert python_score(result) == expected


def test_no_output_is_an_evaluation_failure(confinement: Confinement) -> None:
    result = run("print('forgot the output')", confinement)
    assert result.error is None
    with pytest.raises(EvaluationFailed, match="empty or missing"):
        python_score(result)


def test_syntax_error_is_reported(confinement: Confinement) -> None:
    result = run("def broken(:\n    pass\n", confinement)
    assert result.status_code == 1
    assert result.error is not None
    assert result.error.startswith("exited with status 1: SyntaxError")
    assert any("evaluator.py" in line for line in result.traces)


def test_exception_and_exit_status_are_reported(confinement: Confinement) -> None:
    raised = run("raise ValueError('no score today')", confinement)
    assert raised.error == "exited with status 1: ValueError: no score today"
    exited = run("import sys\nsys.exit(3)", confinement)
    assert exited.status_code == 3
    assert exited.error == "exited with status 3"


# -- limits ------------------------------------------------------------------------------------------


def test_loop_forever_is_stopped_by_the_timeout_and_cleaned_up(confinement: Confinement) -> None:
    result = run(ANNOUNCE + "while True:\n    pass\n", confinement, SHORT)
    assert result.status_code is None
    assert result.error == "timed out after 1 s"
    exec_id, _ = _announced(result)
    assert not os.path.lexists(f"/tmp/{exec_id}")
    _assert_nothing_left(result, confinement)


def test_cpu_limit_stops_a_busy_loop(confinement: Confinement) -> None:
    limits = SandboxLimits(timeout_seconds=20, memory_mb=512, cpu_seconds=1, max_output_bytes=4096)
    result = run("while True:\n    pass\n", confinement, limits)
    assert result.error == "CPU time limit (1 s) exceeded"


def test_allocating_10_gb_hits_the_memory_limit(confinement: Confinement) -> None:
    result = run("blob = bytearray(10 * 1024**3)\nopen('output.txt', 'w').write('true')", confinement)
    assert result.error == "memory limit (512 MiB) exceeded"
    assert result.output == ""
    with pytest.raises(EvaluationFailed, match="memory limit"):
        python_score(result)


def test_fork_bomb_is_stopped(confinement: Confinement) -> None:
    if not confinement.own_user and os.geteuid() == 0:
        # RLIMIT_NPROC never binds the real root user, which the user namespace maps its root to here.
        pytest.skip("the process limit does not bind uid 0: a root server uses a user of its own per run")
    # Hard cap even if every limit failed: each process forks at most 7 times (128 processes).
    code = ANNOUNCE + (
        "import time\n"
        "failed = 0\n"
        "for _ in range(7):\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        failed += 1\n"
        "print('failed', failed, flush=True)\n"
        "time.sleep(60)\n"
    )
    result = run(code, confinement, SandboxLimits(2, 512, 10, 65536))
    assert result.error == "timed out after 2 s"
    failures = [int(line.split()[1]) for line in result.traces if line.startswith("failed ")]
    assert sum(failures) > 0, "the process limit never refused a fork"
    assert len(failures) <= 8  # RLIMIT_NPROC: 8 processes
    _assert_nothing_left(result, confinement)


@pytest.mark.parametrize("ending", ["exits", "times out"])
def test_process_left_behind_does_not_outlive_the_run(confinement: Confinement, ending: str) -> None:
    if not confinement.namespaces and not confinement.own_user:
        pytest.skip("without namespaces and without root, a process that leaves the group can survive")
    code = ANNOUNCE + (
        "import time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    time.sleep(60)\n"
        "open('output.txt', 'w').write('true')\n"
    )
    if ending == "times out":
        code += "while True:\n    pass\n"
    result = run(code, confinement, SHORT)
    if ending == "exits":
        assert python_score(result) is True
    else:
        assert result.error == "timed out after 1 s"
    _assert_nothing_left(result, confinement)


def test_huge_stdout_is_capped(confinement: Confinement) -> None:
    code = "import sys\nfor _ in range(100_000):\n    sys.stdout.write('x' * 99 + '\\n')\nprint('end', file=sys.stderr)\n"
    result = run(code, confinement)
    assert result.error is None
    stdout_lines = result.traces[:-1]
    assert sum(len(line) + 1 for line in stdout_lines[:-1]) <= LIMITS.max_output_bytes + 1
    assert (
        stdout_lines[-1] == f"[stdout truncated: {10_000_000 - LIMITS.max_output_bytes} more bytes not kept]"
    )
    assert result.traces[-1] == "end"


def test_output_txt_is_capped(confinement: Confinement) -> None:
    result = run("open('output.txt', 'w').write('1' * 100_000)", confinement)
    assert result.output == "1" * LIMITS.max_output_bytes


def test_big_files_are_refused(confinement: Confinement) -> None:
    result = run("open('big.bin', 'wb').write(b'x' * (32 << 20))", confinement)
    assert result.error == "exited with status 1: OSError: [Errno 27] File too large"


# -- what the code can reach -------------------------------------------------------------------------


def test_no_server_environment_is_visible(confinement: Confinement, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELIOGRAPH_PROVIDER_KEY_OPENAI", "sk-secret-of-the-server")
    monkeypatch.setenv("PYTHONPATH", "/nowhere")
    code = (
        "import json, os\n"
        "seen = dict(os.environ)\n"
        f"try:\n    seen['server'] = open('/proc/{os.getpid()}/environ').read()\n"
        "except OSError as exc:\n    seen['server'] = type(exc).__name__\n"
        "open('output.txt', 'w').write(json.dumps(seen))\n"
    )
    result = run(code, confinement)
    assert result.error is None, result.traces
    seen = json.loads(result.output)
    assert sorted(seen) == ["HELICONE_EXECUTION_ID", "HOME", "LANG", "PATH", "server"]
    assert "sk-secret-of-the-server" not in result.output
    if confinement.namespaces or confinement.own_user:
        assert seen["server"] in ("FileNotFoundError", "PermissionError")


def test_loopback_is_unreachable(confinement: Confinement) -> None:
    if not confinement.namespaces:
        pytest.skip(f"no network namespace: {network_isolation() or 'this run uses none'}")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    open('output.txt', 'w').write('connected')\n"
            "except OSError as exc:\n"
            "    open('output.txt', 'w').write(f'refused {exc.errno}')\n"
        )
        result = run(code, confinement)
        assert result.output.startswith("refused"), result.traces
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_writing_outside_its_directory_is_refused(confinement: Confinement, outside_dir: Path) -> None:
    _requires_file_confinement(confinement)
    victim = outside_dir / "server-file.txt"
    victim.write_text("original")
    victim.chmod(0o644)
    escape = f"/tmp/heliograph-escape-{uuid.uuid4().hex}"
    code = (
        "import os\n"
        "outcomes = []\n"
        f"for attempt in (lambda: open({str(victim)!r}, 'w').write('changed'),\n"
        f"                lambda: os.remove({str(victim)!r}),\n"
        f"                lambda: os.chmod({str(victim)!r}, 0o777),\n"
        f"                lambda: open({str(outside_dir / 'new.txt')!r}, 'w').write('new'),\n"
        "                lambda: open('/etc/heliograph-escape', 'w').write('x')):\n"
        "    try:\n"
        "        attempt()\n"
        "        outcomes.append('written')\n"
        "    except OSError as exc:\n"
        "        outcomes.append(type(exc).__name__)\n"
        f"open({escape!r}, 'w').write('x')\n"
        "print(outcomes)\n"
        "open('output.txt', 'w').write('written' not in outcomes and 'true' or 'false')\n"
    )
    result = run(code, confinement)
    assert result.error is None, result.traces
    assert python_score(result) is True, result.traces
    assert victim.read_text() == "original"
    assert oct(victim.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in outside_dir.iterdir()) == ["server-file.txt"]
    assert not os.path.exists("/etc/heliograph-escape")
    if confinement.namespaces:  # without them the host's /tmp is world-writable, and said so
        assert not os.path.exists(escape)
    else:
        Path(escape).unlink(missing_ok=True)


def test_server_files_are_not_readable(confinement: Confinement, outside_dir: Path) -> None:
    _requires_file_confinement(confinement)
    secret = outside_dir / "secret-key"
    secret.write_text("the-server-secret")
    secret.chmod(0o600)
    readable = outside_dir / "database.db"
    readable.write_text("rows of every organization")
    readable.chmod(0o644)
    code = (
        "seen = []\n"
        f"for path in ({str(secret)!r}, {str(readable)!r}, '/etc/shadow'):\n"
        "    try:\n"
        "        seen.append(open(path).read())\n"
        "    except OSError as exc:\n"
        "        seen.append(type(exc).__name__)\n"
        "print(seen)\n"
    )
    result = run(code, confinement)
    assert "the-server-secret" not in result.traces[0]
    if confinement.namespaces:  # a new root: world-readable server files are not there either
        assert "rows of every organization" not in result.traces[0]


def test_output_txt_is_never_read_through_a_link(confinement: Confinement, outside_dir: Path) -> None:
    secret = outside_dir / "secret-key"
    secret.write_text("the-server-secret")
    secret.chmod(0o600)
    result = run(f"import os\nos.symlink({str(secret)!r}, 'output.txt')", confinement)
    assert result.output == ""
    assert result.error == "output.txt cannot be read: Too many levels of symbolic links"
    fifo = run("import os\nos.mkfifo('output.txt')", confinement)
    assert fifo.error == "output.txt is not a regular file"


def test_the_working_directory_is_removed(confinement: Confinement) -> None:
    result = run(
        ANNOUNCE + "os.mkdir('sub')\nopen('sub/f', 'w').write('x')\nos.chmod('sub', 0)\n", confinement
    )
    assert result.error is None, result.traces
    exec_id, _ = _announced(result)
    assert not os.path.lexists(f"/tmp/{exec_id}")


# -- the server around it ----------------------------------------------------------------------------


def test_the_event_loop_stays_responsive_during_runs(confinement: Confinement) -> None:
    async def scenario() -> list[str]:
        order: list[str] = []

        async def runs() -> None:
            busy = run_python("while True:\n    pass\n", "{}", "{}", SHORT, confinement=confinement)
            quick = [
                run_python(
                    "open('output.txt', 'w').write('true')", "{}", "{}", LIMITS, confinement=confinement
                )
                for _ in range(3)
            ]
            results = await asyncio.gather(busy, *quick)
            assert results[0].error == "timed out after 1 s"
            assert [python_score(r) for r in results[1:]] == [True, True, True]
            order.append("runs done")

        async def ticks() -> None:
            for _ in range(20):
                await asyncio.sleep(0.01)
            order.append("ticks done")

        await asyncio.gather(runs(), ticks())
        return order

    assert _run(scenario()) == ["ticks done", "runs done"]


def test_probe_and_config_show_report_network_isolation(
    tmp_path: Path, usable: dict[str, str | None]
) -> None:
    chosen, reason = probe()
    assert (reason is None) == chosen.namespaces
    if os.geteuid() == 0 and usable["namespaces"] is None:
        assert reason is None
        assert chosen.own_user
    expected = "namespace" if reason is None else f"unavailable ({reason})"
    assert describe_network_isolation() == expected
    shown = CliRunner().invoke(cli, ["config", "show", "--data-dir", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["python_eval_network_isolation"] == expected


def test_a_confinement_that_cannot_start_says_why() -> None:
    broken = Confinement(("/nonexistent/unshare", "--net", "--"), True)
    reason = check_confinement(broken)
    assert reason is not None
    assert "/nonexistent/unshare" in reason
    result = run("open('output.txt', 'w').write('true')", broken)
    assert result.error is not None
    with pytest.raises(EvaluationFailed):
        python_score(result)
