"""The host resolves secret references itself (durable_finetune.secret_refs): secret:gcp: through
the official Secret Manager client (REST) against the fake, refusals as named errors that carry
the reference and the fix, never a value."""

from __future__ import annotations

import pytest
from durable_finetune.secret_refs import SecretAccessDenied, SecretNotFound, SecretUnavailable, resolve_secret
from secret_manager import secret_manager  # noqa: F401

CANARY = "canary-7f3a-host-value"


@pytest.fixture
def env(secret_manager):  # noqa: F811
    return {"FINETUNE_SECRET_MANAGER_ENDPOINT": secret_manager.url}


def refused(field, ref, env):
    with pytest.raises(SecretUnavailable) as caught:
        resolve_secret(field, ref, env)
    assert "canary-7f3a" not in str(caught.value)
    assert caught.value.field == field
    return caught.value


def test_reads_a_version_and_latest_with_the_python_client(secret_manager, env):  # noqa: F811
    first = secret_manager.put("my-proj", "wandb-key", f"{CANARY}-1\n")
    secret_manager.put("my-proj", "wandb-key", f"{CANARY}-2")
    assert first == "secret:gcp:projects/my-proj/secrets/wandb-key/versions/1"
    assert resolve_secret("tracking.wandb.api_key", first, env) == f"{CANARY}-1"
    latest = "secret:gcp:projects/my-proj/secrets/wandb-key/versions/latest"
    assert resolve_secret("tracking.wandb.api_key", latest, env) == f"{CANARY}-2"
    assert {a["client"] for a in secret_manager.accesses()} == {"python"}


def test_refusals_are_named_and_say_the_fix(secret_manager, env):  # noqa: F811
    err = refused("tracking.wandb.api_key", "secret:gcp:projects/my-proj/secrets/absent/versions/1", env)
    assert isinstance(err, SecretNotFound)
    assert "secret:gcp:projects/my-proj/secrets/absent/versions/1 does not exist in Secret Manager" in str(err)

    secret_manager.put("my-proj", "locked", CANARY)
    secret_manager.deny("my-proj", "locked")
    err = refused("tracking.wandb.api_key", "secret:gcp:projects/my-proj/secrets/locked/versions/1", env)
    assert isinstance(err, SecretAccessDenied)
    assert "roles/secretmanager.secretAccessor" in str(err) and "host.service_account" in str(err)

    secret_manager.put("my-proj", "old", CANARY)
    secret_manager.disable("my-proj", "old", 1)
    err = refused("tracking.wandb.api_key", "secret:gcp:projects/my-proj/secrets/old/versions/1", env)
    assert type(err) is SecretUnavailable and "disabled or destroyed" in str(err)


def test_secret_env_and_text_that_is_no_reference():
    assert resolve_secret("f", "secret:env:MY_KEY", {"MY_KEY": " v \n"}) == "v"
    err = refused("f", "secret:env:MY_KEY", {})
    assert "not set on this host" in str(err) and "secret:gcp:" in str(err)
    err = refused("f", f"{CANARY}-pasted", {})
    assert "is not a secret reference" in str(err)
