"""Warnings about habits that cost money or leak access, not about validity.

An unpinned image changes under a running lease; an interactive app (Jupyter, TensorBoard) on a
public port is reachable by anyone who scans the provider's address.  The README's rule for
instances ("Private by default": reach UIs through our SSH tunnel) applies to deployments too.
"""

from __future__ import annotations

from .context import RuleContext

# The ports the interactive apps serve on by default. A warning names a port only when it is its
# app's port: a Jupyter image that also exposes an API on 3000 or 7860 is not "Jupyter exposed".
INTERACTIVE_PORTS = {8888: "Jupyter", 6006: "TensorBoard"}
# Apps recognised by their image, with their own default ports.
IMAGE_APP_PORTS = {"code-server": ("code-server", (8080, 8443)), "rstudio": ("RStudio", (8787,))}
# The variables that protect each app, checked for guessable values.
APP_TOKENS = {"Jupyter": ("JUPYTER_TOKEN", "JUPYTER_PASSWORD", "NOTEBOOK_TOKEN"), "TensorBoard": (),
              "code-server": ("PASSWORD",), "RStudio": ("PASSWORD",)}
PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "change_me", "password", "token", "secret", "jupyter", "admin", "test"}


def tunnel_fix(port: int | None) -> str:
    """How to reach a deployment's app privately: sphnctl's SSH access plus a local forward (a
    lease is not an instance, so `%spheron forward` does not apply)."""
    port = port or 8888
    return ("remove `global: true` and reach it through an SSH tunnel instead (`sphnctl deployment ssh "
            f"enable --lid N` prints host and port, then `ssh -N -L {port}:127.0.0.1:{port} -p PORT root@HOST`, "
            "which binds 127.0.0.1 only)")


def image_tags(context: RuleContext) -> None:
    for service_name, service in context.doc.services.items():
        image = service.image.strip()
        if not image or "@" in image:  # a digest pins the image exactly
            continue
        name, _, tag = image.rpartition(":")
        if not name or "/" in tag:  # the colon belonged to a registry host:port
            tag = ""
        if tag in ("", "latest"):
            rule = "image has no tag, which means :latest" if not tag else "image uses :latest"
            context.warn(("services", service_name, "image"), image, rule + ", which can change under a running lease",
                         "pin a version tag, like python:3.12-slim", "icl.image-latest", noun="image")


def _app_of_port(image: str, ports: list[int | None]) -> str | None:
    for port in ports:
        if port in INTERACTIVE_PORTS:
            return INTERACTIVE_PORTS[port]
    for word, (app, app_ports) in IMAGE_APP_PORTS.items():
        if word in image and any(port in app_ports for port in ports):
            return app
    return None


def interactive_apps_on_public_ports(context: RuleContext) -> None:
    for service_name, service in context.doc.services.items():
        image = service.image.lower()
        for index, expose in enumerate(service.expose):
            if not expose.is_global:
                continue
            app = _app_of_port(image, [expose.port, expose.as_])
            if app is None:
                continue
            rule = f"{app} exposed globally is reachable by anyone who finds the port"
            weak = _weak_token(service.env_dict(), APP_TOKENS.get(app, ()))
            if weak:
                rule += f", and {weak} is a guessable token"
            key = "as" if expose.as_ is not None else "port"
            value = expose.public_port if expose.public_port is not None else str(expose.public_range)
            container_port = expose.port or (expose.port_range.start if expose.port_range else None)
            context.warn(("services", service_name, "expose", index, key), value, rule, tunnel_fix(container_port),
                         "safety.public-interactive", noun="port")


def _weak_token(env: dict[str, str], variables: tuple[str, ...]) -> str | None:
    for variable in variables:
        if variable in env:
            value = env[variable]
            if value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < 12:
                return f"{variable}={value}"
    return None


RULES = [image_tags, interactive_apps_on_public_ports]
