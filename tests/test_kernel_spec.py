"""Kernelspecs of `%spheron kernel` in the user's Jupyter data dir (kernel/spec.py).

JUPYTER_DATA_DIR points at a temporary dir, so jupyter_client's own KernelSpecManager sees what
a frontend would see, and the real user's kernels are never touched. The last test installs
one from the instance dashboard's "kernel" button, on the emulator.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from spheron_jupyter.kernel import spec
from spheron_jupyter.ssh.target import SshTarget


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    return tmp_path / "jupyter-data"


def _target(instance_id="inst-1"):
    return SshTarget(host="203.0.113.7", port=2222, user="ubuntu", instance_id=instance_id,
                     key_path=Path("/home/me/.local/share/spheron-jupyter/keys/id_ed25519"))


def test_install_writes_a_spec_jupyter_finds_with_argv_that_carries_everything(data_dir):
    info = spec.install(_target(), label="My Box", python="/opt/conda/bin/python")
    assert info.name == "spheron-my-box"
    assert info.path == data_dir / "kernels" / "spheron-my-box"
    found = KernelSpecManager().get_kernel_spec("spheron-my-box")
    assert found.display_name == "Spheron: My Box (GPU)"
    assert found.language == "python"
    assert found.interrupt_mode == "message"
    assert found.argv[:3] == [sys.executable, "-m", "spheron_jupyter.kernel"]
    assert found.argv[-2:] == ["-f", "{connection_file}"]
    joined = " ".join(found.argv)
    for part in ("--instance inst-1", "--host 203.0.113.7", "--port 2222", "--user ubuntu",
                 "--python /opt/conda/bin/python"):
        assert part in joined
    assert found.metadata["spheron"]["instance_id"] == "inst-1"
    assert spec.find_for_instance("inst-1")[0].name == "spheron-my-box"


def test_the_spec_names_our_provisioner_and_jupyter_client_finds_it(data_dir):
    """JupyterLab, Notebook 7 and nbclient start it through SpheronProvisioner (reattaching);
    a spec naming a provisioner jupyter_client cannot load would be hidden from every picker."""
    from jupyter_client.provisioning import KernelProvisionerFactory

    spec.install(_target(), label="My Box")
    found = KernelSpecManager().get_kernel_spec("spheron-my-box")
    assert found.metadata["kernel_provisioner"]["provisioner_name"] == spec.PROVISIONER
    provisioner = KernelProvisionerFactory.instance().create_provisioner_instance(
        "k1", found, parent=None)
    from spheron_jupyter.kernel.provisioner import SpheronProvisioner

    assert isinstance(provisioner, SpheronProvisioner)


def test_remove_for_instance_removes_only_that_instances_specs(data_dir):
    spec.install(_target("inst-1"), label="a")
    spec.install(_target("inst-1"), label="a", kernel_name="spheron-a-second")
    spec.install(_target("inst-2"), label="b")
    assert sorted(spec.remove_for_instance("inst-1")) == ["spheron-a", "spheron-a-second"]
    assert [i.name for i in spec.installed()] == ["spheron-b"]
    assert "spheron-a" not in KernelSpecManager().find_kernel_specs()


def test_remove_for_instance_drops_its_detached_kernels_records(data_dir):
    import time

    from spheron_jupyter.kernel import detached

    for instance_id, kid in (("inst-1", "aa11"), ("inst-2", "bb22")):
        detached.save(detached.Detached(instance_id, kid, 4242, {"shell": 5000}, "k", "hmac-sha256",
                                        "", time.time() + 60))
    spec.remove_for_instance("inst-1")
    assert [r.kid for r in detached.pending()] == ["bb22"]


def test_bad_kernel_name_and_name_taken_by_another_instance_are_one_line(data_dir):
    with pytest.raises(spec.KernelSpecError, match="lower-case letters"):
        spec.install(_target(), label="x", kernel_name="Bad Name!")
    spec.install(_target("inst-1"), label="a", kernel_name="spheron-shared")
    with pytest.raises(spec.KernelSpecError, match="already runs on instance a"):
        spec.install(_target("inst-2"), label="b", kernel_name="spheron-shared")
    assert not (data_dir / "kernels" / "spheron-b").exists()


def test_a_kernelspec_that_is_not_ours_is_never_removed(data_dir):
    other = data_dir / "kernels" / "spheron-hand-made"
    other.mkdir(parents=True)
    (other / "kernel.json").write_text(json.dumps({"argv": ["python"], "display_name": "mine",
                                                   "language": "python"}))
    with pytest.raises(spec.KernelSpecError, match="not made by %spheron kernel"):
        spec.remove("spheron-hand-made")
    assert (other / "kernel.json").exists()
    assert spec.remove("spheron-nothing-here") is False


def test_the_dashboards_kernel_button_installs_the_kernelspec(emulator_session, closing, data_dir):
    """The instance dashboard's "kernel" button does what `%spheron kernel NAME` does."""
    from spheron_jupyter.notebook.widgets.dashboard import Dashboard

    session = emulator_session
    session.launch(session.plan_launch(gpu="rtx-4090", name="btn-box"))
    board = Dashboard(session, start=False)
    closing(board)
    board.fetch()
    board.ui.flush()
    assert not board.rows[board.row_of("btn-box")]["actions"]["kernel"].disabled
    board.act(board.row_of("btn-box"), "kernel")
    assert board.wait_idle(60), "the kernel install did not finish"
    board.ui.flush()
    note = board.detail.children[0].value
    assert "Spheron: btn-box (GPU)" in note and "Change Kernel" in note, note
    found = KernelSpecManager().get_kernel_spec("spheron-btn-box")
    assert found.display_name == "Spheron: btn-box (GPU)"
