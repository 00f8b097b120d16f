"""The public names of client/ and config/ are pinned: changing them is a deliberate act.

Other layers (session, notebook, server, emulator) import these names; a rename here must
show up as a failing test, not as an ImportError somewhere else.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PUBLIC = {
    "spheron_jupyter.client": [
        "KNOWN_STATUSES", "OFFER_TYPES", "SORT_KEYS", "TERMINAL_STATUSES", "USER_AGENT",
        "AlreadyTerminatedError", "ApiUnreachableError", "AuthenticationError", "Balance",
        "CanTerminate", "Clock", "CloudInit", "CreateOutcomeUnknownError", "CreateRequest",
        "GpuGroup", "GpuSpec", "InsufficientBalanceError", "Instance", "InvalidRequestError",
        "MinimumRuntimeError", "NotFoundError", "Offer", "OfferError", "OfferQuery",
        "RateLimitedError", "RequestBudget", "RetryNotice", "RetryPolicy", "ServiceUnavailableError", "SpheronClient",
        "SpheronError", "SshKey", "SystemClock", "Team", "TeamBalance", "TerminateResult",
        "UnexpectedResponseError", "UnknownGpuError", "Volume", "VolumePricing", "WriteFile",
        "flatten_offers", "is_billing", "is_known", "is_terminal", "match_region",
        "normalize_gpu", "offer_to_create_request", "pick_os", "pick_region", "region_matches",
        "select_offers", "shared_budget", "ssh_users", "unique_instance_name",
    ],
    "spheron_jupyter.config.credentials": [
        "ENV_VAR", "KEYRING_ENV", "KEYRING_SERVICE", "ApiKey", "CredentialsError",
        "describe_key_source", "forget_api_key", "key_file_path", "legacy_key_file_path", "mask",
        "redact", "register_secret", "resolve_api_key", "store_api_key",
    ],
    "spheron_jupyter.config.settings": [
        "API_URL_ENV", "DEFAULT_API_URL", "MIN_CLOUD_POLL_SECONDS", "Settings", "SettingsError",
        "load_settings", "save_settings", "settings_path",
    ],
    "spheron_jupyter.config.paths": [
        "APP_NAME", "HOME_ENV", "config_dir", "data_dir", "ensure_private_dir", "runtime_dir",
        "state_dir",
    ],
    "spheron_jupyter.config.redaction": [
        "REDACTED", "clear_secrets", "mask", "redact", "register_secret", "unregister_secret",
    ],
    "spheron_jupyter.config.files": ["write_private_file"],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_is_pinned_and_importable(module_name):
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(PUBLIC[module_name])
    for name in module.__all__:
        assert hasattr(module, name), name


def test_contract_errors_share_one_base():
    import spheron_jupyter.client as client

    for name in ("AuthenticationError", "NotFoundError", "InvalidRequestError", "RateLimitedError",
                 "MinimumRuntimeError", "AlreadyTerminatedError", "InsufficientBalanceError",
                 "ServiceUnavailableError", "ApiUnreachableError"):
        assert issubclass(getattr(client, name), client.SpheronError)


def test_config_does_not_import_httpx_or_ipython():
    """A fresh interpreter: config/ stays importable by the emulator and cheap to load."""
    code = ("import sys, spheron_jupyter.config.credentials, spheron_jupyter.config.settings, "
            "spheron_jupyter.config.paths; "
            "print(sorted(m for m in ('httpx', 'IPython', 'ipywidgets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
