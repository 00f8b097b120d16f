"""Warnings about habits that cost money or leak access, not about validity.

An unpinned image changes under a running lease; an interactive app (Jupyter, TensorBoard) on a
public port is reachable by anyone who scans the provider's address.  PRODUCT.md's rule for
instances — private by default, reach UIs through our SSH tunnel — applies to deployments too.
"""

from __future__ import annotations

from .context import RuleContext

INTERACTIVE_IMAGE_WORDS = ("jupyter", "notebook", "tensorboard", "code-server", "rstudio")
INTERACTIVE_PORTS = {8888: "Jupyter", 6006: "TensorBoard"}
TOKEN_VARIABLES = ("JUPYTER_TOKEN", "JUPYTER_PASSWORD", "PASSWORD", "NOTEBOOK_TOKEN")
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


def interactive_apps_on_public_ports(context: RuleContext) -> None:
    for service_name, service in context.doc.services.items():
        image = service.image.lower()
        app = next((word for word in INTERACTIVE_IMAGE_WORDS if word in image), None)
        weak = _weak_token(service.env_dict())
        for index, expose in enumerate(service.expose):
            if not expose.is_global:
                continue
            ports = [expose.port, expose.as_]
            port_app = next((INTERACTIVE_PORTS[port] for port in ports if port in INTERACTIVE_PORTS), None)
            if not (app or port_app or weak):
                continue
            what = port_app or (app.capitalize() if app else "an interactive app")
            rule = f"{what} exposed globally is reachable by anyone who finds the port"
            if weak:
                rule += f", and {weak} is a guessable token"
            key = "as" if expose.as_ is not None else "port"
            value = expose.public_port if expose.public_port is not None else str(expose.public_range)
            container_port = expose.port or (expose.port_range.start if expose.port_range else None)
            context.warn(("services", service_name, "expose", index, key), value, rule, tunnel_fix(container_port),
                         "safety.public-interactive", noun="port")


def _weak_token(env: dict[str, str]) -> str | None:
    for variable in TOKEN_VARIABLES:
        if variable in env:
            value = env[variable]
            if value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < 12:
                return f"{variable}={value}"
    return None


RULES = [image_tags, interactive_apps_on_public_ports]
