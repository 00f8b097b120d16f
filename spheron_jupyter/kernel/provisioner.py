"""`SpheronProvisioner`: jupyter_client's kernel provisioner for our kernelspecs, which lets a
restarted Jupyter server reattach to a kernel still running on the instance.

The kernelspec names it (``spec.PROVISIONER``) in ``metadata.kernel_provisioner`` (spec.py) and pyproject.toml registers
it in the entry point group ``jupyter_client.kernel_provisioners``. It is jupyter_client's
LocalProvisioner with one decision added before the launch: is there a kernel of this instance,
started for the same notebook, that a killed Jupyter server left running (detached.py)? If so,
it claims that record and

- sets the KernelManager's session key and signature scheme to the detached kernel's, so the
  connection file jupyter_client writes (0600) and the client it hands out sign with the key the
  remote kernel still checks (a fresh key could not talk to it);
- passes the launcher only the claimed record's path, in the environment (``detached.ADOPT_ENV``),
  never the key and never on a command line.

Everything else — the process Jupyter watches, the SSH work, the tunnels on the local ports
jupyter_client chose, falling back to a new kernel when the detached one ended meanwhile — is
the kernelspec's own argv (launcher.py), so a frontend that runs the argv alone (VS Code, older
ones) gets the same kernel, only without reattaching.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from . import detached

class SpheronProvisioner(LocalProvisioner):
    """LocalProvisioner that may hand the launcher a detached kernel to adopt."""

    _launched_once = False

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        env = dict(kwargs.get("env") or os.environ)  # a copy: restarts reuse the caller's dict
        env.pop(detached.ADOPT_ENV, None)
        # Only a kernel's first start adopts; a restart asks for a fresh kernel.
        claimed = None if self._launched_once else self._claim(env)
        self._launched_once = True
        if claimed is not None:
            record = detached.read_claimed(claimed)
            km = self.parent
            if record is not None and km is not None:
                km.session.signature_scheme = record.signature_scheme
                km.session.key = record.key.encode()
                env[detached.ADOPT_ENV] = str(claimed)
        kwargs["env"] = env
        return await super().pre_launch(**kwargs)

    def _claim(self, env: dict[str, str]) -> Path | None:
        ours = (self.kernel_spec.metadata or {}).get("spheron") or {}
        instance_id = ours.get("instance_id")
        if not instance_id:
            return None
        try:
            return detached.claim(str(instance_id), env.get(detached.SESSION_ENV, ""))
        except OSError as exc:  # an unreadable state dir only means: start a new kernel
            self.log.warning("spheron: could not look for a detached kernel: %s", exc)
            return None


__all__ = ["SpheronProvisioner"]
