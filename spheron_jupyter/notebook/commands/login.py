"""%spheron login [--from-env VAR]: store the API key (keyring or a 0600 file), never echo it."""

from __future__ import annotations

import getpass
import os

from IPython.core.error import UsageError

DESCRIPTION = ("Store your Spheron API key (Settings -> API in the dashboard) in the system "
               "keyring, or in a 0600 file where no keyring works. The key is read without echo "
               "and never shown again; --from-env VAR reads it from an environment variable.")


def build(parser) -> None:
    parser.add_argument("--from-env", metavar="VAR", help="take the key from this variable")


def run(context, args, cell=None):
    from ...config.credentials import store_api_key

    if args.from_env:
        key = os.environ.get(args.from_env, "").strip()
        if not key:
            raise UsageError(f"%spheron login: the environment variable {args.from_env} is empty")
    else:
        try:
            key = getpass.getpass("Spheron API key: ").strip()
        except Exception:
            raise UsageError("%spheron login: cannot prompt here; use --from-env VAR") from None
        if not key:
            raise UsageError("%spheron login: no key entered: nothing stored")
    stored = store_api_key(key)
    context.session = None  # the next command connects with the new key
    return f"API key stored ({stored.describe()}); %spheron whoami checks it"
