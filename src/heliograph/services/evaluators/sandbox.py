"""Python evaluators (reference §7.3), each run in its own confined process, never in the server's.

The contract is Helicone's: the code finds ``request.json`` and ``response.json`` in its working
directory ``/tmp/<HELICONE_EXECUTION_ID>/``, so both ``open("request.json")`` and
``open(f"/tmp/{HELICONE_EXECUTION_ID}/request.json")`` work (the id is a global of the code and an
environment variable), and writes ``true``, ``false`` or a number to ``output.txt``. Only the standard
library is importable (the interpreter runs with ``-I -S``: no site-packages, no PYTHON* variables).

Guaranteed in every case (Linux):
- a new interpreter process per run, started with ``asyncio`` (the server awaits it, never blocks on
  it), at most 2 runs at once per event loop; no server memory, no inherited descriptor; an environment
  of exactly PATH, LANG, HOME and HELICONE_EXECUTION_ID (no HELIOGRAPH_* setting, no provider key);
- rlimits set before the code runs: address space ``python_eval_memory_mb`` (reported as "memory limit
  (N MiB) exceeded"), CPU time ``python_eval_cpu_seconds``, 16 MiB per written file (EFBIG beyond), 64
  open files, no core file, 8 processes or threads (counted per run for a root server and in a user
  namespace; an unprivileged server without namespaces counts all its own, so the code can usually
  start none); PR_SET_NO_NEW_PRIVS, so set-uid programs gain nothing;
- the wall-clock timeout ``python_eval_timeout_seconds`` (10 s by default, "timed out after N s"),
  enforced by the run's supervisor process, which then SIGKILLs what the code runs and reaps it (no
  zombie is left to the server, even as a container's init); 5 s later the server SIGKILLs the
  supervisor's process group itself, should the supervisor be stuck;
- stdout, stderr and ``output.txt`` each kept up to ``python_eval_max_output_bytes``, read as they come
  (a flood costs no memory); ``output.txt`` is never read through a symlink or from a FIFO;
- the working directory removed after the run, whatever happened.

When the server runs as root, each run also gets a user id of its own (0x7F000000 + a random 24-bit
number, used by nothing else): the code can modify no file of the server or of anyone else, cannot
signal or trace the server or other runs, and (without namespaces) every process of that user is killed
at once when the run ends (kill(-1) as that user), so nothing it started outlives the run, not even a
process that left the process group.

With namespaces (util-linux ``unshare`` and Linux 5.12+; as root, or as another user where unprivileged
user namespaces are allowed; ``network_isolation()`` returns None, ``heliograph config show`` says
``namespace``):
- no network at all: a new network namespace whose only interface, loopback, is down (127.0.0.1 fails);
- a new root holding only /usr, /bin, /sbin, /lib*, the interpreter's standard library,
  /etc/ld.so.cache, /etc/localtime and /dev/{null,zero,full,random,urandom}, all read-only and
  no-set-uid, plus the run's own /proc and a private tmpfs on /tmp (64 MiB) holding the working
  directory, gone with the run: the server's files, its database, homes, /etc and the host's /tmp are
  not there to read or write;
- new PID and IPC namespaces: the code sees only its own processes, and when the run ends the kernel
  kills every process left in it;
- as root of a user namespace (an unprivileged server), the code runs with every capability dropped.

Without namespaces (no ``unshare``, a container whose seccomp profile forbids them, user namespaces
disabled), runs proceed, the reason is shown by ``heliograph config show``, and: the code can use the
network; it can read every file its user may read (with a root server: world-readable files, which may
include the database if its directory is world-searchable: keep the data directory mode 0700); its
working directory is in the host's /tmp (removed after the run) and it may write other world-writable
places. Modules under a directory its user may not search (an interpreter under /root) are importable
only if preloaded (json, re, math, collections, itertools, functools, string). If the server is not
root either, the code runs as the server's own user: it can read and modify whatever the server can,
and a process that leaves the process group can outlive the run. Enable namespaces before running
untrusted code there.

Never guaranteed: a bound on the total memory of a run (the limit is per process: 8 x
``python_eval_memory_mb`` at worst), or protection from kernel vulnerabilities.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import uuid
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from heliograph.services.evaluators.inputs import EvaluationFailed, Score
from heliograph.services.evaluators.sandbox_child import EXIT_MEMORY, EXIT_SETUP
from heliograph.services.evaluators.sandbox_probe import (
    Confinement,
    child_argv,
    child_env,
    child_spec,
    network_isolation,
    probe,
    reap_argv,
    run_user,
)

if TYPE_CHECKING:
    from heliograph.settings import Settings

__all__ = ["PythonRun", "SandboxLimits", "network_isolation", "python_score", "run_python"]

MAX_CONCURRENT_RUNS = 2  # the machine the server targets has 2 cores; more runs would only queue there
_FILE_BYTES = 16 << 20
_OPEN_FILES = 64
_PROCESSES = 8
_TMPFS_BYTES = 64 << 20
_BACKSTOP_SECONDS = 5.0  # past the timeout: the supervisor is stuck, kill it from here
_DRAIN_GRACE_SECONDS = 1.0  # after the run: how long a straggler holding stdout may delay the result

_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    timeout_seconds: float
    memory_mb: int
    cpu_seconds: int
    max_output_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxLimits:
        return cls(
            timeout_seconds=settings.python_eval_timeout_seconds,
            memory_mb=settings.python_eval_memory_mb,
            cpu_seconds=settings.python_eval_cpu_seconds,
            max_output_bytes=settings.python_eval_max_output_bytes,
        )


@dataclass(frozen=True, slots=True)
class PythonRun:
    output: str  # output.txt (capped), "" when the code wrote none
    traces: list[str]  # stdout lines, then stderr lines (capped)
    status_code: int | None  # the code's exit status (-N: killed by signal N); None when timed out
    error: str | None  # why the run failed, for the user


class _Capped:
    """Keeps the first ``cap`` bytes of a stream and its last line, counting (not keeping) the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.head = bytearray()
        self.tail = b""
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = max(self.cap - len(self.head), 0)
        self.head += chunk[:room]
        self.dropped += max(len(chunk) - room, 0)
        self.tail = (self.tail + chunk)[-2048:]

    def lines(self, name: str) -> list[str]:
        lines = self.head.decode("utf-8", errors="replace").splitlines()
        if self.dropped:
            lines.append(f"[{name} truncated: {self.dropped} more bytes not kept]")
        return lines

    def last_line(self) -> str:
        lines = [line for line in self.tail.decode("utf-8", errors="replace").splitlines() if line.strip()]
        return lines[-1].strip()[:500] if lines else ""


class _ChildProtocol(asyncio.SubprocessProtocol):
    """Collects the child's stdout and stderr as they come, and tells its exit apart from its pipes'
    closing: a process the code left behind may hold the pipes open after the child itself is gone."""

    def __init__(self, cap: int) -> None:
        loop = asyncio.get_running_loop()
        self.streams = {1: _Capped(cap), 2: _Capped(cap)}
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.streams[fd].add(data.encode() if isinstance(data, str) else data)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class _ResultProtocol(asyncio.Protocol):
    """The supervisor's report: one JSON document, then end of file."""

    def __init__(self, cap: int) -> None:
        self.data = _Capped(cap)
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data.add(data)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _slots:
        _slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_RUNS)
    return _slots[loop]


async def run_python(
    code: str,
    request_json: str,
    response_json: str,
    limits: SandboxLimits,
    *,
    confinement: Confinement | None = None,
) -> PythonRun:
    """Run an evaluator's code on one call's bodies. Never raises for what the code does; ``error`` says.

    ``confinement`` defaults to the best the machine allows (probed once, see sandbox_probe).
    """
    if confinement is None:
        confinement = (await asyncio.to_thread(probe))[0]
    async with _slot():
        exec_id, uid = uuid.uuid4().hex, run_user()
        try:
            return await _run(confinement, exec_id, uid, code, request_json, response_json, limits)
        finally:
            if not confinement.namespaces:
                # The child removes its directory in the host's /tmp unless it was killed (a timeout).
                await asyncio.to_thread(_remove_workdir, f"/tmp/{exec_id}")


async def _run(
    confinement: Confinement,
    exec_id: str,
    uid: int,
    code: str,
    request_json: str,
    response_json: str,
    limits: SandboxLimits,
) -> PythonRun:
    cap = limits.max_output_bytes
    loop = asyncio.get_running_loop()
    try:
        transport, child, result_fd = await _spawn(confinement, exec_id, uid, limits)
    except OSError as exc:  # e.g. ``unshare`` removed since the probe: the run fails, the server does not
        return PythonRun("", [], None, f"the sandbox could not start: {exc}")
    try:
        pipe, report = await loop.connect_read_pipe(
            lambda: _ResultProtocol(6 * cap + 4096), os.fdopen(result_fd, "rb", buffering=0)
        )
    except BaseException:
        transport.close()
        raise
    # uvloop's pipe transports do not subclass asyncio.WriteTransport, so no isinstance check here.
    stdin = cast(asyncio.WriteTransport, transport.get_pipe_transport(0))
    stdin.write(json.dumps({"code": code, "request": request_json, "response": response_json}).encode())
    stdin.close()  # after the buffered payload is written; a child that died first just drops it
    # The supervisor enforces the timeout itself (and kills and reaps what the code left); the server's
    # own, later, deadline is the backstop for a supervisor that cannot.
    backstop = False
    try:
        await asyncio.wait_for(asyncio.shield(child.exited), limits.timeout_seconds + _BACKSTOP_SECONDS)
    except TimeoutError:
        backstop = True
    finally:
        _kill_group(transport.get_pid())
        with contextlib.suppress(ProcessLookupError):  # already exited
            transport.kill()
        await child.exited
        if not confinement.namespaces and confinement.own_user and transport.get_returncode() != 0:
            # The supervisor did not finish: what the code left is the server's to kill.
            await _reap(uid)
        # All holders of the pipes are dead now, but for a process that left the group (no namespaces).
        await asyncio.wait([child.closed, report.done], timeout=_DRAIN_GRACE_SECONDS)
        transport.close()
        pipe.close()
    stdout, stderr = child.streams[1], child.streams[2]
    traces = stdout.lines("stdout") + stderr.lines("stderr")
    if backstop:
        return PythonRun("", traces, None, f"timed out after {limits.timeout_seconds:g} s")
    return _outcome(bytes(report.data.head), traces, stderr.last_line(), transport.get_returncode(), limits)


async def _spawn(
    confinement: Confinement, exec_id: str, uid: int, limits: SandboxLimits
) -> tuple[asyncio.SubprocessTransport, _ChildProtocol, int]:
    """The child, in its own process group, and the read end of the pipe its supervisor reports on."""
    cap = limits.max_output_bytes
    result_read, result_write = os.pipe()
    child_limits = {
        "timeout_seconds": limits.timeout_seconds,
        "memory_bytes": limits.memory_mb << 20,
        "cpu_seconds": limits.cpu_seconds,
        "file_bytes": max(_FILE_BYTES, cap),
        "open_files": _OPEN_FILES,
        "processes": _PROCESSES,
        "output_cap": cap,
        "tmpfs_bytes": max(_TMPFS_BYTES, 4 * cap),
    }
    spec = child_spec(confinement, exec_id, uid, result_write, child_limits)
    try:
        transport, child = await asyncio.get_running_loop().subprocess_exec(
            lambda: _ChildProtocol(cap),
            *child_argv(confinement, spec),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(exec_id),
            cwd="/",
            pass_fds=(result_write,),
            start_new_session=True,  # its own process group, killed as one
        )
    except BaseException:
        os.close(result_read)
        raise
    finally:
        os.close(result_write)
    return transport, child, result_read


async def _reap(uid: int) -> None:
    """Kill every process of a run's own user (see sandbox_child.kill_user_processes)."""
    process = await asyncio.create_subprocess_exec(
        *reap_argv(uid),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin"},
        cwd="/",
    )
    await process.wait()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _outcome(
    raw: bytes, traces: list[str], last_line: str, returncode: int | None, limits: SandboxLimits
) -> PythonRun:
    try:
        result = json.loads(raw)
    except ValueError:
        result = None
    if not isinstance(result, dict):
        detail = f": {last_line}" if last_line else ""
        return PythonRun("", traces, returncode, f"the sandbox failed (exit status {returncode}){detail}")
    if "setup_error" in result:
        return PythonRun("", traces, None, f"the sandbox could not be set up: {result['setup_error']}")
    if result["timed_out"]:
        return PythonRun("", traces, None, f"timed out after {limits.timeout_seconds:g} s")
    status = int(result["status"])
    output = str(result["output"])
    return PythonRun(
        output, traces, status, _status_error(status, last_line, limits) or result["output_error"]
    )


def _status_error(status: int, last_line: str, limits: SandboxLimits) -> str | None:
    if status == 0:
        return None
    if status == EXIT_MEMORY or last_line.startswith("MemoryError"):
        return f"memory limit ({limits.memory_mb} MiB) exceeded"
    if status == EXIT_SETUP:
        return f"the sandbox could not confine the code: {last_line}"
    if status in (-signal.SIGXCPU, -signal.SIGKILL):
        return f"CPU time limit ({limits.cpu_seconds} s) exceeded"
    if status < 0:
        return f"killed by signal {signal.Signals(-status).name}"
    return f"exited with status {status}" + (f": {last_line}" if last_line else "")


def _remove_workdir(path: str) -> None:
    if os.path.islink(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path, onerror=_make_removable)


def _make_removable(function: object, path: str, _exc: object) -> None:
    """The code may have left a directory without write or search permission: open it, then retry."""
    with contextlib.suppress(OSError):
        parent = os.path.dirname(path)
        os.chmod(parent, 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def python_score(run: PythonRun) -> Score:
    """The score ``output.txt`` holds: true/false (any case) or a number; else EvaluationFailed."""
    if run.error is not None:
        raise EvaluationFailed(run.error)
    text = run.output.strip()
    if not text:
        raise EvaluationFailed("output.txt is empty or missing: the code must write true, false or a number")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise EvaluationFailed(f"output.txt holds {text[:80]!r}: expected true, false or a number")
    return number
