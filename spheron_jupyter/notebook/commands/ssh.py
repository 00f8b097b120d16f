"""%spheron ssh ID: the ssh command and an ssh_config block, checked against our pinned host key."""

from __future__ import annotations

from ..display import Text


def build(parser) -> None:
    parser.add_argument("id", metavar="ID", help="instance id, name or unique prefix")


def run(context, args, cell=None):
    info = context.session.ssh_info(args.id)
    return Text(
        f"{info.command}\n\n# or add to ~/.ssh/config:\n{info.config}\n\n"
        f"# host key {info.fingerprint or '?'} (pinned in our own known-hosts file)",
        copy=[("ssh command", info.command)],
    )
