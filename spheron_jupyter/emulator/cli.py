"""``spheron-jupyter emulator``: run the embedded Spheron emulator until SIGTERM/SIGINT.

When ready it prints exactly two lines (``Spheron emulator at URL`` and ``API key: KEY``), flushes,
and writes ``STATE/emulator.json`` (mode 0600) with url, api_key and pid.  The file is removed on a
clean stop.  See faults.py for the ``--faults`` grammar.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from .durations import parse_duration

HELP = "run the embedded Spheron emulator until stopped"
INFO_FILE = "emulator.json"

FAULTS_HELP = """\
fault spec: comma-separated items; '*N' limits an item to the next N matches (default: always).
  ACTION@[METHOD ]PATH-GLOB[*N]   ACTION: 429[=DURATION] (retryAfter), 500..599, slow=DURATION, drop
  lose-create[*N]                 commit POST /api/deployments, then drop the response
  reclaim-spot=DURATION           SPOT instances go terminated-provider DURATION after running
  ssh-drop=DURATION[*N]           drop an instance's SSH connections DURATION after running (N times)
examples: '429@/api/gpu-offers*2'  '503@GET /api/deployments*1'  'lose-create*1'  'reclaim-spot=30s'
DURATION (faults, --minimum-runtime, --boot-seconds, --rate-limit): 0.5s, 90s, 20m, 1h30m; a bare
  number is seconds here (a --lease of the magics reads a bare number as hours)
admin routes (API key required): GET /_emulator/state, POST /_emulator/faults {"spec"},
  POST /_emulator/instances/ID/reclaim|fail|drop-ssh, POST /_emulator/teams/ID/credit {"amount"},
  POST /_emulator/instances/ID/status {"status": "ANY"} (terminal ones end billing, others keep it)
rate limits (as live): 10 creates / 15 min per user; --rate-limit requests per client address
"""


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate_limit(text: str) -> tuple[int | None, float]:
    """``100/15m``, ``500`` (per 15 minutes) or ``off``."""
    from .ratelimit import GENERAL_WINDOW_SECONDS

    text = text.strip().lower()
    if text in ("off", "none", "0"):
        return None, GENERAL_WINDOW_SECONDS
    count, _, window = text.partition("/")
    try:
        limit = int(count)
        seconds = parse_duration(window) if window else GENERAL_WINDOW_SECONDS
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a rate limit; use N/DURATION such as 100/15m, or off") from None
    if limit < 1 or seconds <= 0:
        raise argparse.ArgumentTypeError("the rate limit needs a positive count and window")
    return limit, seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = FAULTS_HELP
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--state", type=Path, default=None,
                        help="state directory (kept across restarts); default: a temporary dir")
    parser.add_argument("--boot-seconds", type=_duration, default=2.0,
                        help="how long an instance stays 'deploying' (default 2s)")
    parser.add_argument("--minimum-runtime", type=_duration, default=1200.0,
                        help="minimum runtime before termination (default 20m; an offer's "
                             "minimumRuntimeMinutes wins when larger)")
    parser.add_argument("--faults", default="", help="faults to inject (grammar below)")
    parser.add_argument("--rate-limit", type=_rate_limit, default=None, metavar="N[/DURATION]",
                        help="general limit per client address, like the live service's "
                             "(default 100/15m; 'off' disables it)")
    parser.add_argument("--runtime", default="auto", choices=["auto", "sandbox", "noop"],
                        help="instance runtime: SSH sandboxes when available (auto), or none")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")


def _limit_kwargs(value: tuple[int | None, float] | None) -> dict:
    if value is None:
        return {}
    return {"rate_limit": value[0], "rate_window_seconds": value[1]}


def run(args: argparse.Namespace) -> int:
    from .app import EmulatorApp
    from .faults import FaultSpecError, parse_faults
    from .httpserver import EmulatorHTTPServer
    from .runtime import load_runtime
    from .store import write_private_json

    try:
        faults = parse_faults(args.faults)
    except FaultSpecError as exc:
        print(f"spheron-jupyter emulator: {exc}", file=sys.stderr)
        return 2
    temporary = None
    if args.state is None:
        temporary = tempfile.TemporaryDirectory(prefix="spheron-emulator-")
        args.state = Path(temporary.name)
    state_dir = args.state.resolve()
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    from .process import find_running

    already = find_running(state_dir)
    if already is not None:  # two writers on one state file would lose each other's changes
        print(f"spheron-jupyter emulator: {state_dir} is already served by the emulator at "
              f"{already.url} (pid {already.pid}); stop it first or use another --state.",
              file=sys.stderr)
        return 1

    runtime = load_runtime(args.runtime, state_dir)
    try:
        app = EmulatorApp(state_dir, boot_seconds=args.boot_seconds,
                          minimum_runtime_seconds=args.minimum_runtime, faults=faults,
                          runtime=runtime, **_limit_kwargs(args.rate_limit))
    except (ValueError, KeyError, OSError) as exc:  # unreadable state: say which file
        print(f"spheron-jupyter emulator: cannot load the state in {state_dir / 'state.json'}: "
              f"{exc!r}; move it away to start afresh.", file=sys.stderr)
        return 1
    try:
        server = EmulatorHTTPServer((args.host, args.port), app, verbose=args.verbose)
    except OSError as exc:
        print(f"spheron-jupyter emulator: cannot listen on {args.host}:{args.port}: {exc}",
              file=sys.stderr)
        return 1
    app.start()

    stopping = threading.Event()

    def request_stop(signum, frame):
        if not stopping.is_set():
            stopping.set()
            # shutdown() blocks until serve_forever returns, so it must run on another thread.
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    info_path = state_dir / INFO_FILE
    write_private_json(info_path, {"url": server.url, "api_key": app.store.api_key,
                                   "pid": os.getpid()})
    print(f"Spheron emulator at {server.url}")
    print(f"API key: {app.store.api_key}", flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
        app.close()
        info_path.unlink(missing_ok=True)
        if temporary is not None:
            temporary.cleanup()
    return 0
