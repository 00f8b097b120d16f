"""%spheron help [COMMAND]: the command list, or one command's full help."""

from __future__ import annotations

from ..display import Text

DESCRIPTION = "Show the list of %spheron commands, or the help of one of them."


def build(parser) -> None:
    parser.add_argument("command", nargs="?", help="a subcommand, e.g. launch")


def run(context, args, cell=None):
    from ..magic import COMMANDS, build_parser, load_command

    if args.command:
        module = load_command(args.command)
        return Text(build_parser(args.command, module).format_help().rstrip())
    width = max(map(len, COMMANDS))
    lines = ["%spheron COMMAND [options]   (each command has --help; %spheron --version)", ""]
    lines += [f"  {name.ljust(width)}  {text}" for name, (_m, text) in COMMANDS.items()]
    lines += ["", "An instance ID may be its id, its name, or a unique prefix of either.",
              "%%spheron launch takes a YAML cell; %%spheron exec ID runs the cell as a shell script."]
    return Text("\n".join(lines))
