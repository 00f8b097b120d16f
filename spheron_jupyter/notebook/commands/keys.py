"""%spheron keys [add PATH | rm ID]: the team's SSH keys."""

from __future__ import annotations

from IPython.core.error import UsageError

from ..display import Table

DESCRIPTION = ("List the SSH keys registered with your team, add a public key file "
               "(keys add ~/.ssh/id_ed25519.pub) or remove one (keys rm ID). Launches use our "
               "own key, created and registered on first launch.")


def build(parser) -> None:
    parser.add_argument("action", nargs="?", choices=["add", "rm"])
    parser.add_argument("target", nargs="?", metavar="PATH|ID")
    parser.add_argument("--name", help="name for an added key (default: the file name)")


def run(context, args, cell=None):
    session = context.session
    if args.action and not args.target:
        raise UsageError(f"%spheron keys {args.action}: give the {'PATH' if args.action == 'add' else 'ID'}")
    if args.action == "add":
        key = session.add_key(args.target, name=args.name)
        return f"added key {key.name} ({key.id})"
    if args.action == "rm":
        session.remove_key(args.target)
        return f"removed key {args.target}"
    rows = [{"id": k.id, "name": k.name or "-", "fingerprint": k.fingerprint or "-"}
            for k in session.keys()]
    return Table(rows, title="SSH keys", empty="no SSH keys registered")
