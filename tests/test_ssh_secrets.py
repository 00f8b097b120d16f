"""No private key, token or secret value in log records, exception messages or reprs."""

from __future__ import annotations

import logging
import os

import pytest

import spheron_jupyter.ssh  # noqa: F401  (configures the paramiko logger)
from spheron_jupyter.ssh.connection import Connection, load_private_key, open_transport
from spheron_jupyter.ssh.errors import SshAuthError, SshError
from spheron_jupyter.ssh.keys import ensure_user_key
from spheron_jupyter.ssh.remote import run


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.texts = []

    def emit(self, record):
        self.texts.append(record.getMessage())
        if record.exc_info:
            self.texts.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture
def paramiko_records():
    """paramiko's own records, which never reach the root logger (or a notebook cell)."""
    logger = logging.getLogger("paramiko")
    handler = Collect()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.texts
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def _key_body_lines(path):
    return [line for line in path.read_text().splitlines() if "PRIVATE KEY" not in line and line]


def test_paramiko_records_do_not_reach_the_root_logger():
    logger = logging.getLogger("paramiko")
    assert logger.propagate is False
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)


def test_nothing_secret_in_records_errors_or_reprs(sshd, caplog, paramiko_records, tmp_path):
    caplog.set_level(logging.DEBUG)
    key = ensure_user_key()
    sshd.authorize(key.public_line)
    secret = "tok_" + os.urandom(20).hex()
    texts: list[str] = []

    with Connection.open(sshd.target("inst-sec", pin=True, key_path=key.path)) as conn:
        texts.append(repr(conn))
        out = []
        run(conn, 'test -n "$JUPYTER_TOKEN" && echo has-token', secret_env={"JUPYTER_TOKEN": secret},
            on_stdout=out.append)
        assert out == ["has-token\n"]

    # Errors: refused key, unreadable key file with key-like content, host key mismatch.
    from tests.fixtures.sshd import _write_ed25519

    stranger = tmp_path / "stranger"
    _write_ed25519(stranger, "s")
    for target, error in (
        (sshd.target("inst-sec", key_path=stranger), SshAuthError),
        (sshd.target("other-id", key_path=key.path), SshError),
    ):
        with pytest.raises(error) as caught:
            open_transport(target)
        texts.append(str(caught.value))
    garbled = tmp_path / "garbled"
    garbled.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n" + secret + "\n-----END OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(SshAuthError) as caught:
        load_private_key(garbled)
    texts.append(str(caught.value))
    texts.append(repr(key))
    texts.extend(record.getMessage() for record in caplog.records)
    texts.extend(paramiko_records)

    forbidden = [secret, *_key_body_lines(key.path), *_key_body_lines(stranger),
                 *_key_body_lines(sshd.client_key_path)]
    joined = "\n".join(texts)
    assert paramiko_records, "the paramiko handler saw nothing: the check would be empty"
    for value in forbidden:
        assert value not in joined
