"""One emulated instance's "machine": its root directory, host key, environment and processes.

An emulated instance is not a VM. It is a directory tree under the emulator's state dir
(``<state>/instances/<id>/root``) that stands in for the instance's filesystem, plus the
processes started on its behalf. Commands run for real on this machine, as the user running the
emulator, so a command that names a host path (``cat /etc/passwd``) still reaches it; what the
emulator itself writes (cloud-init files, the host key, the startup log) always lands under the
instance root, and so does whatever a command writes to its HOME, TMPDIR or Python environment.
Our own log reader resolves absolute paths inside the root (ssh/logs_remote.py). Code that must
work on a real instance too finds instance paths through environment variables
(``SPHERON_STARTUP_LOG``), never by assuming ``/var/log``. docs/emulator-isolation.md says what
is and is not isolated.

What a command on an instance sees (``<root>`` = the instance root):
- cwd and ``HOME``: ``<root>/home/<user>`` (``<root>/root`` when the login user is root);
- ``PATH``: ``<root>/usr/local/sbin`` first (shims: systemctl, service, sudo, apt, apt-get,
  cloud-init), then the instance's own Python (``<root>/opt/spheron-python/bin``: python3,
  pip, jupyter, tensorboard; see sandbox_python.py), then the usual system dirs, never the
  emulator's own bin dir;
- ``SPHERON_STARTUP_LOG`` (``<root>/var/log/cloud-init-output.log``), ``SPHERON_INSTANCE_ROOT``,
  ``SPHERON_INSTANCE_ID``, ``SPHERON_EMULATOR=1``, ``TMPDIR=<root>/tmp``, ``LANG``, and where
  JupyterLab's assets are (``JUPYTER_PATH``, ``JUPYTERLAB_DIR``);
- every signal at its default disposition, as sshd leaves them, even when the emulator itself
  runs under ``nohup`` (SIGHUP ignored);
- attached volumes at ``<root>/mnt/<name>`` and ``~/volumes/<name>``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paramiko

from spheron_jupyter.emulator import sandbox_python, sandbox_shims
from spheron_jupyter.emulator.sandbox_keys import ensure_host_key, load_host_key

#: Where a real Ubuntu instance keeps things, relative to the instance root.
HOST_KEY_PATH = "etc/ssh/ssh_host_ed25519_key"
STARTUP_LOG_PATH = "var/log/cloud-init-output.log"
CLOUD_DIR = "var/lib/cloud/instance"
SHIM_DIR = "usr/local/sbin"
REQUEST_DIR = "run/spheron-emulator/requests"
#: How long power-off keeps killing processes that escaped their group.
_KILL_SECONDS = 5.0

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A single path component made from user text (volume names, ids)."""
    cleaned = _SAFE_NAME.sub("-", text).strip(".-")
    return cleaned or "unnamed"


def _default_signals_prefix() -> list[str]:
    """argv prefix that resets every signal to its default before the command starts.

    A child inherits ignored signals across exec: under ``nohup`` (or a CI runner that
    ignores SIGHUP) every instance command would ignore the hang-up sshd sends when its client
    leaves. coreutils' ``env --default-signal`` (9.0+) resets them in the child only; elsewhere
    a tiny Python does the same (Popen's preexec_fn is not safe with threads).
    """
    try:
        ok = subprocess.run(["env", "--default-signal", "true"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if ok:
        return ["env", "--default-signal"]
    return [sys.executable, "-c", _RESET_SIGNALS]


_RESET_SIGNALS = ("import os, signal, sys\n"
                  "for s in signal.valid_signals():\n"
                  "    try: signal.signal(s, signal.SIG_DFL)\n"
                  "    except (OSError, ValueError): pass\n"
                  "os.execvp(sys.argv[1], sys.argv[1:])")
_SIGNALS_PREFIX: list[str] | None = None


def default_signals_prefix() -> list[str]:
    global _SIGNALS_PREFIX
    if _SIGNALS_PREFIX is None:
        _SIGNALS_PREFIX = _default_signals_prefix()
    return _SIGNALS_PREFIX


class InstanceSandbox:
    """The filesystem, environment and process table of one emulated instance."""

    def __init__(self, state_dir: Path | str, instance_id: str, user: str) -> None:
        self.instance_id = instance_id
        self.user = user
        self.instance_dir = Path(state_dir) / "instances" / safe_name(instance_id)
        self.root = self.instance_dir / "root"
        # root logs in to /root on a real machine; everyone else to /home/<user>.
        self.home = self.root / "root" if user == "root" else self.root / "home" / user
        self.startup_log = self.root / STARTUP_LOG_PATH
        self.host_key_path = self.root / HOST_KEY_PATH
        self.cloud_dir = self.root / CLOUD_DIR
        self.shim_dir = self.root / SHIM_DIR
        self.request_dir = self.root / REQUEST_DIR
        self.python_bin = self.root / sandbox_python.PYTHON_DIR / "bin"
        self._processes: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    # -- layout -----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the directory tree and the host key; idempotent, so restarts keep both."""
        for relative in ("etc/ssh", "var/log", CLOUD_DIR + "/scripts", "tmp", "mnt", "root",
                         SHIM_DIR, REQUEST_DIR):
            (self.root / relative).mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").chmod(0o1777)
        self.python_bin = sandbox_python.ensure(self.root)
        ensure_host_key(self.host_key_path)
        sandbox_shims.install(self.shim_dir, self.request_dir, self.cloud_dir)
        self._let_jupyter_run_as_root()

    def _let_jupyter_run_as_root(self) -> None:
        """An emulator running as root runs every instance user's commands as root, and Jupyter
        refuses root without --allow-root. On a real instance the login user ``ubuntu`` is not
        root, so code that starts Jupyter there passes no such flag; the instance's own Jupyter
        config makes that same code work here."""
        config = self.home / ".jupyter" / "jupyter_server_config.json"
        if os.geteuid() != 0 or config.exists():
            return
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text('{"ServerApp": {"allow_root": true}}\n')

    def host_path(self, instance_path: str) -> Path:
        """Map a path on the instance (``/etc/x``) to the host, refusing escapes from the root."""
        joined = os.path.normpath(os.path.join(str(self.root), instance_path.lstrip("/")))
        if joined != str(self.root) and not joined.startswith(str(self.root) + os.sep):
            raise ValueError(f"path {instance_path!r} leaves the instance root")
        return Path(joined)

    def load_host_key(self) -> paramiko.PKey:
        """The key sshd on this instance presents: whatever sits at the sshd host-key path now."""
        return load_host_key(self.host_key_path)

    def load_or_replace_host_key(self) -> paramiko.PKey:
        """For a server starting up: a broken key file (say, bad cloud-init content from an
        earlier run) is moved aside and replaced, so the instance stays reachable."""
        try:
            return self.load_host_key()
        except Exception:
            self.host_key_path.replace(self.host_key_path.with_name(self.host_key_path.name
                                                                    + ".broken"))
            ensure_host_key(self.host_key_path)
            return self.load_host_key()

    # -- environment ------------------------------------------------------------------------

    def base_environment(self) -> dict[str, str]:
        """Variables every process on the instance sees.

        Built from scratch rather than inherited, so nothing of the emulator's own environment
        (API keys among it) leaks into the instance.
        """
        path = [str(self.shim_dir), str(self.python_bin),
                "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        # Not the emulator's own bin dir: its pip would install into the user's venv. (Should
        # that be /usr/bin, the instance's own python3 and pip still come first.)
        return {
            **sandbox_python.emulator_data_env(),
            "PATH": os.pathsep.join(dict.fromkeys(path)),
            "LANG": "C.UTF-8",
            "SHELL": "/bin/bash",
            "TMPDIR": str(self.root / "tmp"),
            "SPHERON_EMULATOR": "1",
            "SPHERON_INSTANCE_ID": self.instance_id,
            "SPHERON_INSTANCE_ROOT": str(self.root),
            "SPHERON_STARTUP_LOG": str(self.startup_log),
        }

    def login_environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """What an SSH session of the login user sees. ``extra`` (the client's env requests)
        may change LANG and the like, never the variables that describe the instance."""
        base = self.base_environment()
        env = {**base, **(extra or {})}
        env.update({name: value for name, value in base.items() if name.startswith("SPHERON_")})
        env.update({"HOME": str(self.home), "USER": self.user, "LOGNAME": self.user})
        return env

    def boot_environment(self) -> dict[str, str]:
        """What cloud-init's runcmd sees: root, HOME=/root, as on a real instance."""
        env = self.base_environment()
        env.update({"HOME": str(self.root / "root"), "USER": "root", "LOGNAME": "root"})
        return env

    # -- processes --------------------------------------------------------------------------

    def spawn(self, argv: list[str], *, env: dict[str, str], cwd: Path, **popen_args
              ) -> subprocess.Popen:
        """Start a process of this instance in its own process group, and remember it."""
        process = subprocess.Popen([*default_signals_prefix(), *argv], env=env, cwd=str(cwd),
                                   start_new_session=True, close_fds=True, **popen_args)
        with self._lock:
            self._processes = {p for p in self._processes if p.poll() is None}
            self._processes.add(process)
        return process

    @staticmethod
    def signal_group(process: subprocess.Popen, signum: int) -> None:
        """Send a signal to a process's whole group (its children included)."""
        try:
            os.killpg(process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def kill_all(self) -> None:
        """Power off: kill every process this instance started, daemons included.

        Process groups catch most; a daemon that called setsid() escapes its group, so we also
        look for any process whose environment names this instance.
        """
        with self._lock:
            processes, self._processes = list(self._processes), set()
        for process in processes:
            self.signal_group(process, signal.SIGKILL)
        # Scan until two scans in a row find none. A process may fork between a scan and its
        # kill, and one caught inside execve() shows an empty environment for a moment (likely
        # how a CI run once saw a daemon started as setsid -> nohup -> sleep outlive power-off).
        # A killed process keeps its environment until it has exited, so the empty scans also
        # mean every stray has ended.
        deadline, empty_scans = time.monotonic() + _KILL_SECONDS, 0
        while empty_scans < 2 and time.monotonic() < deadline:
            strays = self._stray_pids()
            empty_scans = 0 if strays else empty_scans + 1
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)
        for process in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def _stray_pids(self) -> list[int]:
        marker = f"\0SPHERON_INSTANCE_ROOT={self.root}\0".encode()
        proc = Path("/proc")
        if not proc.is_dir():
            return []
        found = []
        for entry in proc.iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = b"\0" + (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ:
                found.append(int(entry.name))
        return found

    # -- volumes ----------------------------------------------------------------------------

    def attach_volume(self, name: str, backing_dir: Path) -> Path:
        """Show a volume at ``/mnt/<name>`` and ``~/volumes/<name>``; data lives in backing_dir."""
        backing_dir.mkdir(parents=True, exist_ok=True)
        mount_point = self.root / "mnt" / safe_name(name)
        _replace_symlink(mount_point, backing_dir)
        shortcut = self.home / "volumes" / safe_name(name)
        shortcut.parent.mkdir(parents=True, exist_ok=True)
        _replace_symlink(shortcut, mount_point)
        return mount_point

    def detach_volume(self, name: str, backing_dir: Path) -> None:
        """Remove the volume's links, found by name or, after a rename, by what they point to."""
        mount_points = self.root / "mnt"
        shortcuts = self.home / "volumes"
        doomed = {mount_points / safe_name(name)}
        doomed.update(link for link in _symlinks(mount_points)
                      if os.path.realpath(link) == os.path.realpath(backing_dir))
        doomed.update(shortcut for shortcut in _symlinks(shortcuts)
                      if Path(os.readlink(shortcut)) in doomed)
        for link in doomed:
            if link.is_symlink():
                link.unlink()

    # -- service control --------------------------------------------------------------------

    def pending_service_requests(self) -> list[Path]:
        """Request files the systemctl/service shims left, e.g. ``sshd-restart.1234``.

        The shim waits until its file disappears, so whoever acts on a request deletes the
        file afterwards (``answer_service_request``) to let the shim return.
        """
        try:
            return sorted(self.request_dir.iterdir())
        except FileNotFoundError:
            return []

    @staticmethod
    def answer_service_request(request: Path) -> None:
        try:
            request.unlink()
        except FileNotFoundError:
            pass


def _symlinks(directory: Path) -> list[Path]:
    try:
        return [entry for entry in directory.iterdir() if entry.is_symlink()]
    except FileNotFoundError:
        return []


def _replace_symlink(link: Path, target: Path) -> None:
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        raise FileExistsError(f"{link} is a real directory; not replacing it with a volume")
    link.symlink_to(target, target_is_directory=True)


def create_runtime(state_dir: Path | str):
    """The entry point runtime.load_runtime looks for: real SSH sandboxes for every instance."""
    from spheron_jupyter.emulator.sandbox_runtime import SandboxRuntime  # imports this module

    return SandboxRuntime(state_dir)
