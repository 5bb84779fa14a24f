"""Start, find and stop the local service processes.

Each service runs in its own session (``start_new_session``), so its pid is also its process
group and session id: stopping signals the whole group and then checks that no process of the
session or any descendant survives, which is how ``down`` guarantees no orphans.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from credit_platform.errors import PlatformError, as_user


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, pgid, sid) for every live process."""
    table: dict[int, tuple[int, int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[0] in ("Z", "X"):
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), int(fields[3]))
    return table


def process_tree(root: int) -> set[int]:
    """The root, every descendant, and anything still in the root's group or session."""
    table = _proc_table()
    found = {pid for pid, (_, pgid, sid) in table.items() if pgid == root or sid == root}
    if root in table:
        found.add(root)
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return found


def rss_bytes(pids: set[int]) -> int:
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    pid_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> int:
    """Start a detached, long-running process; its output is appended to `log_path`.

    Logs and everything the process creates are private to its user (umask 077): a service's log
    or state may hold a secret (Airflow's generated admin password, say). The logs directory lists
    nothing to others (0711): a server running as its own user keeps its own logs in a subdirectory."""
    private_dir(log_path.parent, 0o711)
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    with open(private_file(log_path), "ab") as log, open(os.devnull, "rb") as devnull:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=devnull,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
                umask=0o077,
                **as_user(user),
            )
        except FileNotFoundError as exc:
            raise PlatformError(f"cannot start {argv[0]}: binary not found; run `make setup`") from exc
    pid_path.write_text(f"{proc.pid}\n")
    return proc.pid


def private_dir(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    return path


def private_file(path: Path) -> Path:
    """The file, created if absent, readable and writable by its owner only."""
    os.close(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
    path.chmod(0o600)
    return path


def read_pid(pid_path: Path) -> int | None:
    try:
        return int(pid_path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def stop_tree(pid: int, sig: int = signal.SIGTERM, timeout: float = 60.0) -> bool:
    """Signal the service's group, wait for every process of it to exit, SIGKILL what remains.

    Returns True if everything stopped on the polite signal.
    """
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_tree(pid):
            return True
        time.sleep(0.2)
    for leftover in process_tree(pid):
        try:
            os.kill(leftover, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.3)
    return False


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.5,
               alive: Callable[[], bool] | None = None) -> bool:
    """Poll `check` until it is true; give up early if `alive` says the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except Exception:  # a health probe that errors is simply "not yet"
            pass
        if alive is not None and not alive():
            return False
        time.sleep(interval)
    return False


def unprivileged_user(name: str) -> str | None:
    """The OS user a server runs as when the platform is started by root (a system user without a
    login, created when missing); None when not root: then everything runs as the caller."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(name)
    except KeyError:
        created = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                                 capture_output=True, text=True)
        if created.returncode != 0:
            try:
                pwd.getpwnam(name)  # created meanwhile by another `up`
            except KeyError:
                raise PlatformError(f"cannot create the system user {name}: {created.stderr.strip()}") from None
    return name


def grant_traverse(user: str | None, path: Path) -> None:
    """Let `user` reach `path` (e.g. the Python interpreter under a private home such as /root/.pyenv):
    each directory on the way that others may not enter gets an ACL entry allowing this user to pass
    through it (search only: nothing is listed, and files keep their own permissions)."""
    if user is None:
        return
    uid = pwd.getpwnam(user).pw_uid
    for directory in [*reversed(path.resolve().parents), path.resolve()]:
        info = directory.stat()
        if not directory.is_dir() or info.st_mode & 0o001 or (info.st_uid == uid and info.st_mode & 0o100):
            continue
        # keep what the user's entry already allows (e.g. reading the landing) and add search; set it
        # again even when present: a chmod since (pytest's on its temp root) may have cleared the mask
        current = subprocess.run(["getfacl", "--omit-header", "--absolute-names", str(directory)],
                                 capture_output=True, text=True).stdout.split()
        perms = next((e.split(":")[2] for e in current if e.startswith(f"user:{user}:")), "---")
        try:
            subprocess.run(["setfacl", "-m", f"u:{user}:{perms[:2]}x", str(directory)], check=True,
                           capture_output=True, text=True)
        except FileNotFoundError:
            raise PlatformError("setfacl not found (Debian package acl); run `make setup`") from None
        except subprocess.CalledProcessError as exc:
            raise PlatformError(f"cannot let {user} reach {path}: setfacl on {directory}: "
                                f"{exc.stderr.strip()}") from None


def grant_python(user: str | None) -> None:
    """Let `user` run the platform's Python: the interpreter (which may live in a private home, as
    pyenv's under /root), the virtual environment and the repository (the jobs and `src/`)."""
    from credit_platform.config import REPO_ROOT

    for path in (Path(sys.executable), Path(sys.prefix), REPO_ROOT):
        grant_traverse(user, path)


def grant_read_tree(user: str | None, path: Path) -> None:
    """Let `user` read everything under `path`, and what is written there later (a default ACL, which
    new files and directories inherit; others still get nothing)."""
    if user is None:
        return
    path.mkdir(parents=True, exist_ok=True)
    grant_traverse(user, path)
    granted = subprocess.run(["getfacl", "--omit-header", str(path)], capture_output=True, text=True)
    if granted.returncode == 0 and {f"default:user:{user}:r-x", "default:other::---"} <= set(granted.stdout.split()):
        return  # granted before: everything created since inherited it (a nightly run need not walk the tree)
    # group and others get nothing, now and by default: a default ACL would otherwise copy the
    # directory's current group and other bits (r-x) into everything created below it. The default
    # entries first: a file landed while the tree is walked either inherits them (its directory was
    # passed) or exists before the second walk, which grants it; the other order misses some.
    for options, entries in ((["-R", "-d", "-m"], f"u::rwX,u:{user}:rX,g::-,o::-"),
                             (["-R", "-m"], f"u:{user}:rX,g::-,o::-")):
        try:
            subprocess.run(["setfacl", *options, entries, str(path)], check=True, capture_output=True, text=True)
        except FileNotFoundError:
            raise PlatformError("setfacl not found (Debian package acl); run `make setup`") from None
        except subprocess.CalledProcessError as exc:
            raise PlatformError(f"cannot let {user} read {path}: {exc.stderr.strip()}") from None


def chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
