"""%spheron use local|cloud [--url URL]: pick the backend for this kernel."""

from __future__ import annotations

DESCRIPTION = ("Choose the backend: 'local' is the embedded emulator (started as its own process "
               "when none runs, and shared by all your kernels); 'cloud' is the real Spheron API "
               "with your configured key. 'local --url URL' reaches any running emulator (e.g. "
               "one started with `spheron-jupyter emulator`) with the key in SPHERON_API_KEY, or "
               "the key from its state directory with --state DIR.")


def build(parser) -> None:
    parser.add_argument("backend", choices=["local", "cloud"])
    parser.add_argument("--url", help="API base URL (cloud) or a running emulator's URL (local)")
    parser.add_argument("--state", metavar="DIR",
                        help="local: the --state directory of a running emulator (its URL and key "
                             "are read from there)")


def run(context, args, cell=None):
    if args.state and args.backend != "local":
        from IPython.core.error import UsageError

        raise UsageError("%spheron use: --state is for 'use local' (an emulator's state directory)")
    session = context.use(args.backend, url=args.url, state=args.state)
    return f"using the {session.backend} backend at {session.api_url}" if not session.note else None
