"""Secret references resolved on the host (the Python side of src/secrets/).

A job carries a reference (`secret:env:WANDB_API_KEY`), never the secret: jobs are
store files, and the store must hold no secret. The host resolves it here, in the
process that uses the value, and nothing here ever prints the value or a text that
is not a reference (it may be a secret pasted into the config by mistake).

    secret:env:<NAME>   an environment variable of the host process (a local host
                        inherits the worker's environment; a VM's agent has none of it)
    secret:gcp:projects/<p>/secrets/<s>/versions/<n|latest>
                        a Secret Manager version, read with the host's own Google
                        credentials: on a VM its service account (host.service_account),
                        which needs roles/secretmanager.secretAccessor on the secret

FINETUNE_SECRET_MANAGER_ENDPOINT (http://host:port) points the official client at a
stand-in speaking the same REST protocol (tests); an http: endpoint gets no credentials.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

_ENV = re.compile(r"^secret:env:([A-Za-z_][A-Za-z0-9_]{0,127})$")
# The same forms as src/secrets/ref.ts.
_GCP = re.compile(
    r"^secret:gcp:projects/([a-z][-a-z0-9]{4,28}[a-z0-9])/secrets/([A-Za-z0-9_-]{1,255})"
    r"/versions/(latest|[1-9][0-9]*)$"
)
ENDPOINT_ENV = "FINETUNE_SECRET_MANAGER_ENDPOINT"

_FORMS = "secret:env:<NAME> or secret:gcp:projects/<project>/secrets/<secret>/versions/<n|latest>"
_ROLE = "roles/secretmanager.secretAccessor"


class SecretUnavailable(Exception):
    """A reference that names no usable secret: unset variable, disabled version, not a reference."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class SecretNotFound(SecretUnavailable):
    """Secret Manager has no such secret or version."""


class SecretAccessDenied(SecretUnavailable):
    """Secret Manager refused the host: no secretAccessor role, or no credentials."""


def resolve_secret(field: str, ref: str, env: Mapping[str, str] | None = None) -> str:
    """The secret that `ref` (the value of job field `field`) names, as text without a trailing newline."""
    env = os.environ if env is None else env
    if isinstance(ref, str):
        match = _ENV.match(ref)
        if match:
            return _from_env(field, match.group(1), env)
        gcp = _GCP.match(ref)
        if gcp:
            project, secret, version = gcp.groups()
            return _from_secret_manager(field, project, secret, version, env=env)
    raise SecretUnavailable(field, f"is not a secret reference this host can resolve; write {_FORMS}")


def _from_env(field: str, name: str, env) -> str:
    value = (env.get(name) or "").strip()
    if not value:
        raise SecretUnavailable(
            field,
            f"secret:env:{name} names the environment variable {name}, which is "
            f"{'not set' if name not in env else 'empty'} on this host; set it where the "
            f"agent starts (a local host inherits the worker's environment; on a gce host "
            f"use secret:gcp:, which the VM reads with its service account)",
        )
    return value


def _from_secret_manager(field: str, project: str, secret: str, version: str, env) -> str:
    # Imported here: the client costs most of a second to import, and most runs read no secret on the host.
    from google.api_core import exceptions
    from google.auth.exceptions import DefaultCredentialsError

    shown = f"secret:gcp:projects/{project}/secrets/{secret}/versions/{version}"
    try:
        response = _client(env).access_secret_version(name=f"projects/{project}/secrets/{secret}/versions/{version}")
    except exceptions.NotFound:
        raise SecretNotFound(
            field,
            f"{shown} does not exist in Secret Manager (no secret {secret} in project "
            f"{project}, or no version {version}); create it (gcloud secrets create {secret} "
            f"--project {project}, then gcloud secrets versions add ...) or fix the reference",
        ) from None
    # The REST transport maps by HTTP status: 403 Forbidden, 401 Unauthorized, 400 BadRequest (FAILED_PRECONDITION).
    except (exceptions.Forbidden, exceptions.Unauthorized, DefaultCredentialsError):
        raise SecretAccessDenied(
            field,
            f"this host may not read {shown} (Secret Manager: permission denied, or the "
            f"secret does not exist); grant the VM's service account (host.service_account) "
            f"{_ROLE} on it: gcloud secrets add-iam-policy-binding {secret} --project {project} "
            f"--member serviceAccount:<its email> --role {_ROLE}",
        ) from None
    except exceptions.BadRequest:
        raise SecretUnavailable(
            field,
            f"{shown} is disabled or destroyed in Secret Manager; enable it "
            f"(gcloud secrets versions enable) or point at another version",
        ) from None
    data = response.payload.data
    if response.payload.data_crc32c and _crc32c(data) != response.payload.data_crc32c:
        raise OSError(f"{field}: the payload of {shown} does not match its CRC32C; read it again")
    value = data.decode("utf-8").strip()
    if not value:
        raise SecretUnavailable(field, f"{shown} is empty; add a version that holds the secret")
    return value


def _client(env):
    from google.cloud import secretmanager_v1

    endpoint = env.get(ENDPOINT_ENV)
    if not endpoint:
        return secretmanager_v1.SecretManagerServiceClient(transport="rest")
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    local = endpoint.startswith("http://")
    return secretmanager_v1.SecretManagerServiceClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=endpoint),
        **({"credentials": AnonymousCredentials()} if local else {}),
    )


def _crc32c(data: bytes) -> int:
    import google_crc32c

    return google_crc32c.value(data)
