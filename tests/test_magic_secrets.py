"""Secrets never reach output: the API key, private keys, and (outside the link) Jupyter tokens."""

from __future__ import annotations

import time


def test_no_secret_in_any_output_or_file_we_write(emulator_shell, isolated_home):
    sh = emulator_shell
    api_key = sh.emulator.api_key
    for source in [
        "%spheron whoami", "%spheron offers --gpu rtx-4090 --limit 2", "%spheron teams",
        "%spheron keys", "%spheron launch --gpu rtx-4090 --name vault --yes --lease 1h",
        "%spheron ls --all", "%spheron status vault", "%spheron ssh vault", "%spheron events vault",
        "%spheron exec vault -- env", "%spheron logs vault --startup", "%spheron tunnels",
        "%spheron status nobody",
        "%spheron launch --gpu nothing-like-it",
    ]:
        sh.run(source)
    link = sh.context.session.jupyter("vault")
    sh.run("%spheron exec vault -- sh -c 'cat ~/.spheron/services/jupyter.env; ps aux'")
    sh.run("%spheron logs vault --service jupyter")
    sh.run("%spheron terminate vault --yes --when-allowed")
    assert any("JUPYTER_TOKEN='[REDACTED]'" in text for text in sh.transcript)
    for text in sh.transcript:
        assert api_key not in text
        assert "PRIVATE KEY" not in text
        assert link.token not in text  # even the instance's own env file comes out masked
    time.sleep(0.5)
    for path in isolated_home.rglob("*"):
        if path.is_file() and path.suffix not in (".sqlite-wal", ".sqlite-shm"):
            data = path.read_bytes()
            if path.name in ("api_key", "emulator.json"):
                continue  # the key's own files, 0600
            assert api_key.encode() not in data, path
            assert link.token.encode() not in data, path
    for tunnel in sh.context.session.tunnels():
        sh.context.session.close(tunnel.id)
