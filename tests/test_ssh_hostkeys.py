"""Host-key pins by instance id: the store, cloud-init keys, OpenSSH interop, paramiko policy."""

from __future__ import annotations

import shutil
import stat
import subprocess

import paramiko
import pytest

from spheron_jupyter.ssh.connection import open_transport
from spheron_jupyter.ssh.errors import HostKeyChangedError, HostKeyUnknownError
from spheron_jupyter.ssh.hostkeys import (
    KnownHosts,
    PinnedHostKeyPolicy,
    default_known_hosts_path,
    fingerprint,
    host_key_cloud_init,
    make_host_key,
)


def test_store_pins_by_instance_id_and_forgets():
    store = KnownHosts()
    _, public_a = make_host_key()
    _, public_b = make_host_key()
    fp = store.pin("inst-a", public_a)
    store.pin("inst-b", public_b + " comment is dropped")
    assert fp == fingerprint(public_a) and fp.startswith("SHA256:")
    assert store.lookup("inst-a") == public_a
    assert store.lookup("inst-b") == public_b
    assert store.path == default_known_hosts_path()
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    # OpenSSH format: "<alias> <type> <base64>" per line.
    assert f"inst-a {public_a}\n" in store.path.read_text()
    assert store.forget("inst-a") and not store.forget("inst-a")
    assert store.lookup("inst-a") is None and store.lookup("inst-b") == public_b


def test_aliases_that_would_break_the_file_are_refused():
    _, public = make_host_key()
    for bad in ("", "a b", "a,b", "*", "x\ny"):
        with pytest.raises(ValueError):
            KnownHosts().pin(bad, public)


def test_cloud_init_fragment_installs_the_key_and_restarts_sshd():
    private, public = make_host_key()
    fragment = host_key_cloud_init(private, public)
    files = {f["path"]: f for f in fragment["writeFiles"]}
    assert files["/etc/ssh/ssh_host_ed25519_key"]["permissions"] == "0600"
    assert files["/etc/ssh/ssh_host_ed25519_key"]["content"] == private
    assert files["/etc/ssh/ssh_host_ed25519_key.pub"]["content"].startswith(public)
    assert fragment["runcmd"] == ["systemctl restart ssh || service ssh restart"]
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")


def test_cloud_init_pinned_key_is_accepted_on_the_very_first_connection(sshd):
    private, public = make_host_key()
    KnownHosts().pin("inst-ci", public)  # pinned before the instance ever answered
    sshd.use_host_key(private, public)
    prompts = []
    transport = open_transport(sshd.target("inst-ci"), on_host_key_pinned=lambda *a: prompts.append(a))
    transport.close()
    assert prompts == []


def test_pin_survives_ip_reuse_by_another_instance(sshd, sshd_factory):
    """Same address, different instance id: each id is checked against its own pin only."""
    sshd.pin("old-instance")
    replacement = sshd_factory()
    replacement.port = sshd.port
    sshd.stop()
    replacement.restart()
    with pytest.raises(HostKeyChangedError):
        open_transport(replacement.target("old-instance"))
    with pytest.raises(HostKeyUnknownError):
        open_transport(replacement.target("new-instance"))


def test_openssh_uses_the_same_pins(sshd):
    if shutil.which("ssh") is None:
        pytest.skip("no OpenSSH client")
    unpinned = subprocess.run(["ssh", *sshd.openssh_args("inst-o"), "echo", "ok"],
                              capture_output=True, text=True, timeout=120)
    assert unpinned.returncode != 0 and "ok" not in unpinned.stdout
    sshd.pin("inst-o")
    pinned = subprocess.run(["ssh", *sshd.openssh_args("inst-o"), "echo", "ok"],
                            capture_output=True, text=True, timeout=120)
    assert pinned.returncode == 0, pinned.stderr
    assert pinned.stdout == "ok\n"


def test_paramiko_client_policy(sshd):
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(PinnedHostKeyPolicy("inst-p"))
    connect = dict(hostname=sshd.host, port=sshd.port, username=sshd.user,
                   key_filename=str(sshd.client_key_path), look_for_keys=False,
                   allow_agent=False, timeout=10)
    with pytest.raises(HostKeyUnknownError):
        client.connect(**connect)
    client.close()
    reported = []
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(
        PinnedHostKeyPolicy("inst-p", tofu_consent=True, on_pinned=lambda i, f: reported.append(f)))
    client.connect(**connect)
    client.close()
    assert reported == [fingerprint(sshd.host_key_public)]
