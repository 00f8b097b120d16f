"""%spheron use local|cloud [--url URL]: pick the backend for this kernel."""

from __future__ import annotations

DESCRIPTION = ("Choose the backend: 'local' is the embedded emulator (started as its own process "
               "when none runs, and shared by all your kernels); 'cloud' is the real Spheron API "
               "with your configured key.")


def build(parser) -> None:
    parser.add_argument("backend", choices=["local", "cloud"])
    parser.add_argument("--url", help="API base URL (cloud) or a running emulator's URL (local)")


def run(context, args, cell=None):
    session = context.use(args.backend, url=args.url)
    return f"using the {session.backend} backend at {session.api_url}" if not session.note else None
