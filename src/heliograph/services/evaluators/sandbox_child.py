"""The program a Python evaluator runs in: ``python -I -S sandbox_child.py <spec JSON>``.

It runs as its own interpreter, never imported by the code it runs, so it uses the standard library only
and reads nothing from the server but its argument and stdin. Two processes take part:

- the supervisor (this script's main; PID 1 of fresh PID, mount, network and IPC namespaces when the
  server starts it under ``unshare``) reads the code and the two bodies from stdin, builds a new
  read-only root holding only what the interpreter needs and a private tmpfs on /tmp (namespaces only),
  writes ``request.json`` and ``response.json`` into ``/tmp/<execution id>/``, forks the runner, waits
  for it up to the timeout, kills and reaps whatever the code still runs (as PID 1 of the namespace, or
  as a child subreaper killing by the run's user id), reads ``output.txt`` (capped, never through a
  symlink or a FIFO) and sends the outcome as JSON on the result pipe;
- the runner drops to the run's own user id (when started as root) or drops every capability (root in
  a user namespace), sets its rlimits, and executes the user's code in that directory. It holds none of
  the supervisor's descriptors.

With a PID namespace, the kernel also kills whatever is left in it when the supervisor exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import os
import resource
import signal
import stat
import sys
import traceback
from typing import Any

# Exit statuses the runner uses for the server to tell apart from the user's own (which are 0..2 mostly).
EXIT_MEMORY = 97  # MemoryError under RLIMIT_AS
EXIT_SETUP = 98  # the runner could not drop privileges or set its limits: the code never ran

_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_MS_NOSUID = 2
_MS_NODEV = 4
_MOUNT_ATTR_RDONLY = 0x1
_MOUNT_ATTR_NOSUID = 0x2
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_SYS_MOUNT_SETATTR = 442  # the same number on every architecture since Linux 5.1's unified table
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
_PR_SET_CHILD_SUBREAPER = 36
_MS_MOVE = 8192
_MS_NOEXEC = 8
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# What the new root of a run holds besides the interpreter's library (system libraries for extension
# modules, the loader's cache, the time zone, four harmless devices).
_SYSTEM_PATHS = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
)
_DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}

# Modules the runner imports before dropping its user id when it has no mount namespace to make the
# standard library reachable (an interpreter under /root, say): what evaluators commonly import.
_PRELOAD = ("json", "re", "math", "collections", "itertools", "functools", "string")


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _c_string(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    result = _libc().mount(
        _c_string(source), _c_string(target), _c_string(fstype), ctypes.c_ulong(flags), _c_string(data)
    )
    _check(result, f"mount {target}")


def _blocked_ancestor(path: str) -> str | None:
    """The highest directory on the way to ``path`` that others may not search (``/root``), if any."""
    current = "/"
    for part in [p for p in path.split("/") if p]:
        current = os.path.join(current, part)
        if not os.stat(current).st_mode & stat.S_IXOTH:
            return current
    return None


def _bind_into(root: str, path: str, covered: list[str]) -> None:
    """Make ``path`` appear at the same place under ``root``: a symlink as itself (and what it points to),
    a directory or a file as a bind mount, with its missing parents created in ``root``'s tmpfs."""
    if not os.path.lexists(path) or any(path == top or path.startswith(top + "/") for top in covered):
        return
    target = root + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        os.symlink(os.readlink(path), target)
        _bind_into(root, os.path.realpath(path), covered)
        return
    os.makedirs(target if os.path.isdir(path) else os.path.dirname(target), mode=0o755, exist_ok=True)
    if not os.path.isdir(path):
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
    _mount(path, target, None, _MS_BIND | _MS_REC)
    covered.append(path)


def _set_read_only(path: str) -> None:
    """Read-only and no-set-uid for ``path`` and every mount below it, in one call (Linux 5.12+)."""
    attr = _MountAttr(_MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID, 0, _MS_PRIVATE, 0)
    result = _libc().syscall(
        ctypes.c_long(_SYS_MOUNT_SETATTR),
        ctypes.c_int(_AT_FDCWD),
        ctypes.c_char_p(path.encode()),
        ctypes.c_uint(_AT_RECURSIVE),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    _check(result, f"mount_setattr {path} read-only")


def _confine_filesystem(spec: dict[str, Any]) -> None:
    """Make a new root that holds only what the interpreter needs, all of it read-only, with a private
    tmpfs on /tmp for the working directory; the host's other files (homes, /etc, /var, the server's
    data) are not in it. Runs in the supervisor, in the run's own mount namespace."""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing mounted here may reach the host
    root = "/tmp"  # where the new root is assembled: a mount point that exists everywhere
    _mount("tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
    library = [os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)]
    covered: list[str] = []
    # Real directories first, so a symlink such as /bin -> usr/bin lands among them, never on the host.
    for path in sorted(_SYSTEM_PATHS + tuple(library), key=os.path.islink):
        _bind_into(root, path, covered)
    os.makedirs(f"{root}/dev", mode=0o755, exist_ok=True)
    for name, points_to in _DEV_LINKS.items():
        os.symlink(points_to, f"{root}/dev/{name}")
    for directory in ("proc", "tmp"):
        os.mkdir(f"{root}/{directory}", 0o755)
    os.chdir(root)
    _mount(root, "/", None, _MS_MOVE)
    os.chroot(".")
    os.chdir("/")
    # A fresh /proc shows the run's own processes only; a kernel that refuses it (it may when the
    # host's /proc is partly masked) just leaves /proc empty: Python does not need it.
    with contextlib.suppress(OSError):
        _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    _set_read_only("/")
    _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={spec['tmpfs_bytes']},mode=1777")


def _drop_capabilities() -> None:
    """Root inside a user namespace keeps every capability there (it could remount the new root
    read-write): drop them all, and from the bounding set so no program run later gets one back."""
    cap = 0
    while _libc().prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    if ctypes.get_errno() != errno.EINVAL:  # EINVAL: past the last capability the kernel knows
        _check(-1, "prctl(PR_CAPBSET_DROP)")
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc().capset(ctypes.byref(header), data), "capset")


def _prepare(spec: dict[str, Any], payload: dict[str, str]) -> tuple[str, int]:
    """The working directory ``/tmp/<execution id>`` (path and descriptor), owned by the code's user."""
    if spec["namespace"]:
        _confine_filesystem(spec)
    workdir = os.path.join("/tmp", spec["exec_id"])
    os.mkdir(workdir, 0o700)  # fails if it exists: never reuse a directory someone else made
    workdir_fd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    for name, key in (("request.json", "request"), ("response.json", "response")):
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=workdir_fd)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(payload[key])
        if spec["uid"] is not None:
            os.chown(name, spec["uid"], spec["uid"], dir_fd=workdir_fd)
    if spec["uid"] is not None:
        os.fchown(workdir_fd, spec["uid"], spec["uid"])
    return workdir, workdir_fd


def _become_user(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def kill_user_processes(uid: int) -> None:
    """Kill every process of the run's own user, in one atomic sweep: kill(-1) as that user reaches
    exactly its processes, including any that left the process group (setsid) to outlive the run."""
    _become_user(uid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)


def _set_limits(spec: dict[str, Any]) -> None:
    limits = {
        resource.RLIMIT_AS: spec["memory_bytes"],
        resource.RLIMIT_CPU: spec["cpu_seconds"],
        resource.RLIMIT_FSIZE: spec["file_bytes"],
        resource.RLIMIT_NOFILE: spec["open_files"],
        resource.RLIMIT_NPROC: spec["processes"],
        resource.RLIMIT_CORE: 0,
    }
    for which, value in limits.items():
        # The CPU hard limit one second above the soft one: SIGXCPU first, SIGKILL if it is ignored.
        hard = value + 1 if which == resource.RLIMIT_CPU else value
        resource.setrlimit(which, (value, hard))


def _become_runner(spec: dict[str, Any], workdir: str) -> None:
    """Give up everything the supervisor holds before the user's code gets control."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    os.chdir(workdir)
    os.setpgid(0, 0)  # a group of its own, which the supervisor can kill without killing itself
    if spec["uid"] is not None:
        if not spec["namespace"] and _blocked_ancestor(os.path.dirname(os.__file__)) is not None:
            for module in _PRELOAD:
                __import__(module)
        _become_user(spec["uid"])
    elif spec["namespace"]:
        _drop_capabilities()
    # Set-uid programs must not give the code back what it just gave up.
    _check(_libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    _set_limits(spec)
    # Past RLIMIT_FSIZE a write fails with EFBIG (a traceback the user can read) instead of a silent kill.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    sys.argv = ["evaluator.py"]


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken stream has nothing left to save
            stream.flush()


def _probe_checks() -> None:
    """What the server checks at start: no loopback, a read-only root, the standard library importable."""
    import colorsys  # noqa: F401 - a module nothing imported yet: the library is reachable
    import socket

    with socket.socket() as sock:
        try:
            sock.connect(("127.0.0.1", 9))
        except OSError as exc:
            if exc.errno == errno.ECONNREFUSED:
                raise SystemExit("probe: the loopback interface is reachable") from exc
        else:
            raise SystemExit("probe: the loopback interface is reachable")
    if not os.statvfs("/").f_flag & os.ST_RDONLY:
        raise SystemExit("probe: the root filesystem is writable")
    if os.path.exists("/etc/passwd"):
        raise SystemExit("probe: the host's files are visible")


def _run_user_code(spec: dict[str, Any], code: str, workdir: str) -> None:
    """The runner's whole life; it always ends in os._exit, never returns into the supervisor."""
    try:
        _become_runner(spec, workdir)
    except BaseException as exc:  # the code must not run half-confined
        os.write(2, f"sandbox: {exc}\n".encode())
        os._exit(EXIT_SETUP)
    status = 0
    try:
        if spec["probe"]:
            _probe_checks()
        else:
            scope = {"__name__": "__main__", "HELICONE_EXECUTION_ID": spec["exec_id"]}
            exec(compile(code, "evaluator.py", "exec"), scope)
    except MemoryError:
        os.write(2, b"MemoryError\n")
        os._exit(EXIT_MEMORY)
    except SystemExit as stop:
        if isinstance(stop.code, int) or stop.code is None:
            status = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            status = 1
    except BaseException as exc:
        # From the user's frames on: the first one is this function's exec, noise to them.
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        traceback.print_exception(type(exc), exc, tb)
        status = 1
    _flush()
    os._exit(status)


def _read_output(workdir_fd: int, cap: int) -> tuple[str, bool, str | None]:
    """``output.txt`` up to ``cap`` bytes; the code may have made it a symlink or a FIFO: not followed."""
    try:
        fd = os.open("output.txt", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=workdir_fd)
    except FileNotFoundError:
        return "", False, None
    except OSError as exc:
        return "", False, f"output.txt cannot be read: {exc.strerror}"
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "", False, "output.txt is not a regular file"
        data = file.read(cap + 1)
    return data[:cap].decode("utf-8", errors="replace"), len(data) > cap, None


def _remove_tree(workdir_fd: int) -> None:
    """Empty the working directory (without namespaces it lies in the host's /tmp)."""
    for entry in os.listdir(workdir_fd):
        try:
            info = os.stat(entry, dir_fd=workdir_fd, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                sub = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=workdir_fd)
                try:
                    _remove_tree(sub)
                finally:
                    os.close(sub)
                os.rmdir(entry, dir_fd=workdir_fd)
            else:
                os.unlink(entry, dir_fd=workdir_fd)
        except OSError:
            continue  # the server removes what is left; a leftover must not lose the result


def _fork_and_wait(work: Any, *args: Any) -> int:
    """Run ``work(*args)`` in a child process that always ends in os._exit; its exit code."""
    pid = os.fork()
    if pid == 0:
        try:
            work(*args)
        finally:
            os._exit(0)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


class _Deadline(Exception):
    pass


def _raise_deadline(_signum: int, _frame: Any) -> None:
    raise _Deadline


def _wait_until(pid: int, timeout: float) -> int | None:
    """The runner's exit code, or None when it is still running after ``timeout`` seconds."""
    signal.signal(signal.SIGALRM, _raise_deadline)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        status = os.waitpid(pid, 0)[1]
        signal.setitimer(signal.ITIMER_REAL, 0)
    except _Deadline:
        return None
    return os.waitstatus_to_exitcode(status)


def _end_leftovers(spec: dict[str, Any], runner: int) -> None:
    """Kill whatever the code still runs, and reap it here, so that no process and no zombie of the
    run is left to the server (which may be the init of its container, reaping nothing)."""
    if spec["namespace"]:
        # PID 1 of the run's namespace: kill(-1) reaches every other process in it, and only those.
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)
    elif spec["uid"] is not None:
        # The run's own user finds even what left the process group (setsid).
        _fork_and_wait(kill_user_processes, spec["uid"])
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(runner, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):  # reaped already when it ended by itself
            os.waitpid(runner, 0)
    # Everything killed is a child here (the runner's orphans came to this subreaper), so blocking is
    # safe; without namespaces or a user of its own, a process that left the group may live on.
    everything_killed = spec["namespace"] or spec["uid"] is not None
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, 0 if everything_killed else os.WNOHANG)[0] != 0:
            pass


def _supervise(spec: dict[str, Any], result: Any) -> None:
    payload: dict[str, str] = (
        {"code": "", "request": "{}", "response": "{}"}
        if spec["probe"]
        else json.loads(sys.stdin.buffer.read())
    )
    try:
        workdir, workdir_fd = _prepare(spec, payload)
        if not spec["namespace"]:  # as PID 1 of its namespace it adopts orphans already
            _check(_libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")
    except OSError as exc:
        json.dump({"setup_error": str(exc)}, result)
        result.close()
        sys.exit(2)
    result.flush()  # nothing buffered may be written twice by the forked runner
    runner = os.fork()
    if runner == 0:
        _run_user_code(spec, payload["code"], workdir)
    status = _wait_until(runner, spec["timeout_seconds"])
    _end_leftovers(spec, runner)  # before output.txt is read: nothing may change it any more
    report: dict[str, Any] = {"status": status, "timed_out": status is None}
    if status is not None:
        output, truncated, output_error = _read_output(workdir_fd, spec["output_cap"])
        report.update(output=output, truncated=truncated, output_error=output_error)
    if not spec["namespace"]:
        _remove_tree(workdir_fd)
        with contextlib.suppress(OSError):
            os.rmdir(workdir)
    json.dump(report, result)
    result.close()


def main() -> None:
    os.umask(0o022)  # the directories and files made for the code must be readable by it
    spec = json.loads(sys.argv[1])
    if "reap" in spec:
        kill_user_processes(spec["reap"])
        return
    _supervise(spec, os.fdopen(spec["result_fd"], "w", encoding="utf-8"))


if __name__ == "__main__":
    main()
