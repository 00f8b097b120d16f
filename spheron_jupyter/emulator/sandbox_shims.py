"""Stand-ins for system tools a startup script expects: systemctl, service, sudo, apt, cloud-init.

They sit first on every PATH of the instance. Nothing here may act on the host machine: a
restart of ``ssh``/``sshd`` becomes a request file that the instance's own SSH server answers
(it reloads the host key from the instance's /etc/ssh), and every other service is logged and
treated as done, because an emulated instance has no init system.
"""

from __future__ import annotations

import shlex
from pathlib import Path

SYSTEMCTL = r"""#!/bin/bash
# systemctl on an emulated Spheron instance (see spheron_jupyter/emulator/sandbox_shims.py).
request_dir=@REQUEST_DIR@

# Ask the instance's own sshd to restart, and wait (like systemctl does) until it has.
request() {
    local file="$request_dir/$1.$$.$RANDOM"
    : > "$file" || return 1
    for _ in $(seq 1 150); do
        [ -e "$file" ] || return 0
        sleep 0.1
    done
    rm -f "$file"
    echo "systemctl: $1 timed out: the instance's sshd did not answer" >&2
    return 1
}

action=""
units=()
for arg in "$@"; do
    case "$arg" in
        -*) ;;
        *) if [ -z "$action" ]; then action="$arg"; else units+=("$arg"); fi ;;
    esac
done

status=0
for unit in "${units[@]}"; do
    name="${unit%.service}"
    case "$name" in
        ssh|sshd)
            case "$action" in
                restart|reload|try-restart|reload-or-restart|try-reload-or-restart|start)
                    request sshd-restart || status=1 ;;
                is-active) echo active ;;
                is-enabled) echo enabled ;;
                status) echo "* $name.service - OpenBSD Secure Shell server (emulated)"
                        echo "     Active: active (running)" ;;
                *) ;;
            esac ;;
        *)
            case "$action" in
                is-active) echo inactive; status=3 ;;
                *) echo "systemctl: $action $unit: no init system on an emulated instance; nothing done" >&2 ;;
            esac ;;
    esac
done
exit $status
"""

SERVICE = r"""#!/bin/bash
# service NAME ACTION on an emulated Spheron instance: the same as systemctl ACTION NAME.
if [ "$#" -lt 2 ]; then
    exit 0
fi
exec "$(dirname "$0")/systemctl" "$2" "$1"
"""

SUDO = r"""#!/bin/bash
# sudo on an emulated Spheron instance: every command already runs with the emulator's rights,
# so drop sudo's own options and run the rest (VAR=value prefixes included, through env).
while [ "$#" -gt 0 ]; do
    case "$1" in
        -u|-g|-p|-C|-h|-r|-t|-U) shift 2 ;;
        --) shift; break ;;
        -*) shift ;;
        *) break ;;
    esac
done
[ "$#" -eq 0 ] && exit 0
exec env "$@"
"""

APT = r"""#!/bin/bash
# apt-get / apt on an emulated Spheron instance: it shares the host's system, which a startup
# script must not change, so installs are only reported (like cloud-init's `packages`).
case " $* " in
    *" install "*) echo "emulator: would run $(basename "$0") $* (an emulated instance installs no packages)" ;;
    *) ;;
esac
exit 0
"""

CLOUD_INIT = r"""#!/bin/bash
# cloud-init on an emulated Spheron instance: only `status [--wait] [--long]` is meaningful.
cloud_dir=@CLOUD_DIR@
if [ "$1" != "status" ]; then
    echo "cloud-init: only 'status' is available on an emulated instance" >&2
    exit 0
fi
shift
wait=no
for arg in "$@"; do [ "$arg" = "--wait" ] || [ "$arg" = "-w" ] && wait=yes; done
if [ "$wait" = yes ]; then
    while [ ! -e "$cloud_dir/boot-finished" ]; do sleep 0.2; done
fi
if [ ! -e "$cloud_dir/boot-finished" ]; then
    echo "status: running"
    exit 0
fi
result=$(cat "$cloud_dir/result" 2>/dev/null || echo done)
echo "status: $result"
[ "$result" = done ]
"""


def install(shim_dir: Path, request_dir: Path, cloud_dir: Path) -> None:
    """Write the shims (again, so a newer emulator's shims replace an older one's)."""
    shim_dir.mkdir(parents=True, exist_ok=True)
    scripts = {"systemctl": SYSTEMCTL, "service": SERVICE, "sudo": SUDO, "cloud-init": CLOUD_INIT,
               "apt-get": APT, "apt": APT}
    for name, text in scripts.items():
        text = (text.replace("@REQUEST_DIR@", shlex.quote(str(request_dir)))
                    .replace("@CLOUD_DIR@", shlex.quote(str(cloud_dir))))
        target = shim_dir / name
        target.write_text(text)
        target.chmod(0o755)
