"""%spheron kernel NAME [--python PATH] [--name KERNEL_NAME] [--remove]: a kernel on the instance."""

from __future__ import annotations

from IPython.core.error import UsageError

from ..display import Progress, Text

DESCRIPTION = ("Install a Jupyter kernel \"Spheron: NAME (GPU)\" whose cells run on the instance "
               "(JupyterLab's launcher and Change Kernel, Notebook 7, VS Code, nbclient/papermill). "
               "It runs an ipykernel there bound to the instance's 127.0.0.1, reached through "
               "tunnels on 127.0.0.1 here that heal after network drops without losing the "
               "kernel's state. ipykernel is installed on the instance first if missing (into "
               "~/.spheron/kernel-venv, or into the --python you name). --remove, or terminating "
               "the instance, removes the kernel.")


def build(parser) -> None:
    parser.add_argument("id", metavar="NAME", help="instance id, name or unique prefix")
    parser.add_argument("--python", metavar="PATH",
                        help="the Python on the instance to run the kernel with (default: one "
                             "with ipykernel on PATH, else a venv of our own)")
    parser.add_argument("--name", metavar="KERNEL_NAME",
                        help="the kernelspec's name (default: spheron-<instance name>)")
    parser.add_argument("--remove", action="store_true", help="remove the kernel instead")


def run(context, args, cell=None):
    from ...kernel import spec

    if args.remove:
        return _remove(context, args, spec)
    if args.name:
        try:
            spec.check_kernel_name(args.name)
        except spec.KernelSpecError as exc:
            raise UsageError(str(exc)) from None
    progress = Progress(f"Kernel on {args.id}").start()
    try:
        info = install_kernel(context.session, args.id, python=args.python, name=args.name,
                              progress=lambda line: progress.update("kernel", line))
    finally:
        progress.flush()
    return Text(switch_text(info))


def install_kernel(session, ref: str, *, python: str | None = None, name: str | None = None,
                   progress=None):
    """Resolve, wait for SSH, find or install ipykernel, write the kernelspec (also the
    dashboard's "kernel" button). Raises UsageError with one line on bad input."""
    from ...kernel import remote, spec
    from ...ssh.connection import Connection

    say = progress or (lambda _line: None)
    view = session.resolve(ref)
    if view.status != "running":
        raise UsageError(f"instance {view.name or view.id} is {view.status}, not running: "
                         "a kernel needs a running instance (%spheron status shows it)")
    session.ssh_info(view.id)  # waits for SSH and pins a first-use host key, as `ssh` does
    target = _target(view)
    say("Looking for a Python with ipykernel on the instance")
    try:
        with Connection.open(target) as conn:
            chosen = remote.ensure_python(conn, python, progress=say)
        say(f"The kernel will run {chosen}")
        return spec.install(target, label=view.name or view.id, kernel_name=name, python=chosen)
    except (remote.KernelStartError, spec.KernelSpecError) as exc:
        raise UsageError(str(exc)) from None


def switch_text(info) -> str:
    """What was installed and how to switch a notebook to it."""
    label = info.instance_name or info.instance_id
    return "\n".join([
        f"Installed the kernel {info.display_name!r} ({info.name}) in {info.path.parent}.",
        f"Switch this notebook to it: Kernel > Change Kernel... > {info.display_name} "
        "(JupyterLab, Notebook 7); in VS Code: Select Kernel > Jupyter Kernel...;",
        f"nbclient/papermill: kernel_name={info.name!r}. Its cells run on the instance, and its "
        "variables live there:",
        "they survive network drops, not the instance. Terminating the instance removes this "
        f"kernel; so does %spheron kernel {label} --remove.",
    ])


def _remove(context, args, spec):
    removed: list[str] = []
    if args.name:
        if spec.remove(args.name):
            removed.append(args.name)
    else:
        matches = [info for info in spec.installed()
                   if args.id in (info.instance_id, info.instance_name)]
        if not matches:
            try:
                view = context.session.resolve(args.id)
                matches = spec.find_for_instance(view.id)
            except Exception:  # the instance may be long gone; the spec is ours
                matches = []
        for info in matches:
            if spec.remove(info.name):
                removed.append(info.name)
    if not removed:
        raise UsageError(f"no Spheron kernel for {args.name or args.id!r}: "
                         "`jupyter kernelspec list` shows the installed ones")
    return Text(f"Removed the kernel {', '.join(removed)}. Notebooks using it need another "
                "kernel (Kernel > Change Kernel...).")


def _target(view):
    from ...ssh.keys import user_key_path
    from ...ssh.target import SshTarget

    return SshTarget(host=view.ip, port=int(view.ssh_port or 22), user=view.user or "root",
                     instance_id=view.id, key_path=user_key_path())
