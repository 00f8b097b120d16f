"""A Jupyter kernel on an instance: `%spheron kernel NAME` installs a kernelspec whose kernel runs
there, reached through the tunnel agent, and outlives network drops.

Layer: between session/ and ssh/ (imports ssh/ and config/; session/ only calls
``spec.remove_for_instance`` after a terminate). Modules:

- ``spec``: kernelspecs in the user's Jupyter data dir (install, find, remove).
- ``remote``: the POSIX sh scripts run on the instance (find/install Python with ipykernel,
  start the kernel bound to its loopback with the key from stdin, watch it, stop it).
- ``launcher``: the local process a frontend starts from the kernelspec's argv
  (``python -m spheron_jupyter.kernel``); it starts the remote kernel, tunnels the five ZMQ
  ports through the tunnel agent on the same local ports, and lives exactly as long as the
  remote kernel does (or, when its Jupyter server vanished, detaches it).
- ``detached``: records of remote kernels a killed Jupyter server left running (0600, our state
  dir), their grace period, and claiming one for adoption.
- ``provisioner``: ``SpheronProvisioner``, jupyter_client's LocalProvisioner that has the
  launcher adopt a detached kernel; a module of its own so the launcher never imports
  jupyter_client's provisioning (and zmq).

Nothing here is imported by ``%load_ext``; paramiko and jupyter_core load on first use.
"""
