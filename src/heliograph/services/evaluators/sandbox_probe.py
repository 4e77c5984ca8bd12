"""What confinement this machine allows a Python evaluator, found once by trying it.

Namespaces (util-linux ``unshare``: network, PID, mount, IPC) give the strongest confinement: no network
at all, every process killed with the run, a read-only filesystem. As root they need nothing else;
otherwise an unprivileged user namespace (``--user --map-root-user``) must be allowed by the kernel. The
probe runs the real child program under them once, checking that loopback is unreachable, ``/`` is
read-only and the standard library importable; when that fails runs go on without namespaces and the
reason is what ``network_isolation()`` returns (``heliograph config show`` prints it).
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heliograph.services.evaluators import sandbox_child

CHILD_PROGRAM = Path(sandbox_child.__file__)
_NAMESPACES = ("--net", "--pid", "--fork", "--kill-child", "--mount", "--ipc")
_PROBE_TIMEOUT_SECONDS = 20.0


# Runs get a user id of their own, unused by anything else, when the server is root: it can modify none
# of the server's files, runs cannot touch each other, RLIMIT_NPROC counts one run's processes only, and
# every process of a run can be killed at once (kill(-1) as that user). systemd's allocation leaves
# 0x70000000-0x7FFFFFFF unused (UIDS-GIDS.md); above 2^31 some tools read ids as negative.
RUN_UID_BASE = 0x7F000000
RUN_UID_SPAN = 1 << 24


@dataclass(frozen=True, slots=True)
class Confinement:
    """How a run is started. ``namespace_argv`` is the ``unshare ...`` prefix (empty: no namespaces);
    ``own_user``: each run as a fresh unprivileged user id (the server is root); otherwise the code keeps
    the server's user (an unprivileged server, or root inside a user namespace)."""

    namespace_argv: tuple[str, ...]
    own_user: bool

    @property
    def namespaces(self) -> bool:
        return bool(self.namespace_argv)


def run_user() -> int:
    """A fresh user (and group) id for one run."""
    return RUN_UID_BASE + secrets.randbelow(RUN_UID_SPAN)


def without_namespaces() -> Confinement:
    """The fallback: rlimits, a process group, and a user of its own when the server is root."""
    return Confinement((), os.geteuid() == 0)


def child_argv(confinement: Confinement, spec: dict[str, Any]) -> list[str]:
    """The command of one run. ``-I -S``: no environment variables, no user or site directories, so
    neither the server's packages nor a ``PYTHON*`` variable reach the evaluator's interpreter."""
    return [*confinement.namespace_argv, sys.executable, "-I", "-S", str(CHILD_PROGRAM), json.dumps(spec)]


def child_spec(
    confinement: Confinement, exec_id: str, uid: int, result_fd: int, limits: dict[str, float]
) -> dict[str, Any]:
    """What the child program reads from its argument; ``uid`` (also the group id) is used only when
    the confinement gives runs a user of their own."""
    return {
        "exec_id": exec_id,
        "namespace": confinement.namespaces,
        "uid": uid if confinement.own_user else None,
        "result_fd": result_fd,
        "probe": False,
        **limits,
    }


def reap_argv(uid: int) -> list[str]:
    """The command that kills every process of a run's user (after a timeout, without namespaces)."""
    return [sys.executable, "-I", "-S", str(CHILD_PROGRAM), json.dumps({"reap": uid})]


def child_env(exec_id: str) -> dict[str, str]:
    """The whole environment of a run: nothing inherited from the server (no keys, no settings)."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": f"/tmp/{exec_id}",
        "HELICONE_EXECUTION_ID": exec_id,
    }


def namespace_confinement(*, user_namespace: bool) -> Confinement | None:
    """Namespaces as root (each run as its own user), or inside a user namespace (root there, with no
    capability left once the code runs); None without ``unshare``."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    if user_namespace:
        return Confinement((unshare, "--user", "--map-root-user", *_NAMESPACES, "--"), False)
    return Confinement((unshare, *_NAMESPACES, "--"), True)


def check_confinement(confinement: Confinement) -> str | None:
    """Run the child's own checks under ``confinement`` (no loopback, a read-only root without the
    host's files, the standard library importable): None if they pass, else why not."""
    read_fd, write_fd = os.pipe()
    limits: dict[str, float] = {
        "timeout_seconds": _PROBE_TIMEOUT_SECONDS / 2,
        "memory_bytes": 512 << 20,
        "cpu_seconds": 10,
        "file_bytes": 1 << 20,
        "open_files": 64,
        "processes": 64,
        "output_cap": 1024,
        "tmpfs_bytes": 1 << 20,
    }
    exec_id = f"heliograph-probe-{uuid.uuid4().hex}"
    spec = {**child_spec(confinement, exec_id, run_user(), write_fd, limits), "probe": True}
    with os.fdopen(read_fd, "rb") as result_pipe:
        try:
            done = subprocess.run(
                child_argv(confinement, spec),
                env=child_env(exec_id),
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_PROBE_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{(confinement.namespace_argv or (sys.executable,))[0]}: {exc}"
        finally:
            os.close(write_fd)
        raw = result_pipe.read(1 << 16)
    try:
        result = json.loads(raw)
    except ValueError:
        result = {}
    if "setup_error" in result:
        return str(result["setup_error"])
    if result.get("status") == 0:
        return None
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


@functools.cache
def probe() -> tuple[Confinement, str | None]:
    """The confinement runs use and, when it has no namespaces, why. Blocks ~0.1 s once; call it at start."""
    if sys.platform != "linux":
        return without_namespaces(), f"namespaces are Linux-only (this is {sys.platform})"
    # As root, plain namespaces first (each run its own user); a user namespace is the other way in.
    modes = [False, True] if os.geteuid() == 0 else [True]
    candidates = [c for mode in modes if (c := namespace_confinement(user_namespace=mode)) is not None]
    if not candidates:
        return without_namespaces(), "util-linux `unshare` is not installed"
    failures = []
    for candidate in candidates:
        failure = check_confinement(candidate)
        if failure is None:
            return candidate, None
        failures.append(failure)
    return without_namespaces(), "namespaces do not work here: " + "; ".join(failures)


def network_isolation() -> str | None:
    """None when evaluators run in a network namespace (no network at all), else the reason they do not."""
    return probe()[1]


def describe_network_isolation() -> str:
    """The line ``heliograph config show`` prints."""
    reason = network_isolation()
    return "namespace" if reason is None else f"unavailable ({reason})"
