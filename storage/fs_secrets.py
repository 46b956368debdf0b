"""Storage secrets kept out of orchestration records: split them from fsspec storage options and
hand them to fsspec's own configuration instead.

Why: Prefect stores every flow parameter (and shows it in the UI), so S3 keys passed to a flow as
``storage_options`` would sit in its database. ``run_curate`` therefore splits the options it is
given (:func:`split_secrets`): the public part (``client_kwargs.endpoint_url``, ``anon``,
``profile``, ...) is the flow's parameter; the secret part is installed into this process's
fsspec configuration for the run (:func:`installed_secrets`) and into the environment of the
run's local Dask workers (:func:`worker_env`, read by fsspec when a worker imports it). fsspec
applies its configuration to every filesystem it creates for that protocol, with explicitly given
options winning (``fsspec.config.apply_config``), so the tasks, called with the public part only,
reach the bucket with the secrets although no Prefect record holds them.

Where secrets come from otherwise, unchanged: the store's own chain (for S3 via botocore:
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, an instance role) and fsspec's
configuration (``FSSPEC_S3_KEY``/``FSSPEC_S3_SECRET`` or ``FSSPEC_S3`` as JSON, files in
``~/.config/fsspec`` or ``FSSPEC_CONFIG_DIR``), both read on each machine, so Dask workers on
other machines use their own.

fsspec merges its configuration shallowly (an explicit ``client_kwargs`` replaces a configured
one whole), so a public entry with a secret inside (``client_kwargs.aws_secret_access_key``)
moves to the secret part whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = [
    "check_url_credentials", "is_secret_key", "installed_secrets", "secret_paths", "split_secrets", "url_protocols", "worker_env",
]

#: A storage option is a secret when its name (any case) contains one of these: ``key``,
#: ``secret``, ``token`` cover s3fs/gcsfs/adlfs (``key``, ``secret``, ``token``,
#: ``aws_session_token``, ``account_key``, ``sas_token``), the rest HTTP and SFTP headers and
#: logins. Broad on purpose: a public value withheld costs a line in the UI, a secret shown a key.
_SECRET_NAME = re.compile(r"key|secret|token|passw|credential|auth|signature|sas|connection_string|private|cookie", re.IGNORECASE)

#: Protocols that never take credentials (their options stay as they are).
_LOCAL = frozenset({"file", "local"})


def is_secret_key(name: str) -> bool:
    """Whether the storage option ``name`` holds a credential (see ``_SECRET_NAME``)."""
    return bool(_SECRET_NAME.search(str(name)))


def secret_paths(options: Mapping[str, Any] | None, prefix: str = "") -> list[str]:
    """Dotted names of the secret entries of ``options`` (``["key", "client_kwargs.aws_secret_access_key"]``), never their values."""
    found = []
    for name, value in (options or {}).items():
        path = f"{prefix}{name}"
        if is_secret_key(name):
            found.append(path)
        elif isinstance(value, Mapping):
            found.extend(secret_paths(value, f"{path}."))
    return found


#: Query parameters that carry a credential: the signature and key id of a presigned S3 URL
#: (``X-Amz-Signature``, ``X-Amz-Credential``, ``X-Amz-Security-Token``, ``AWSAccessKeyId``,
#: ``Signature``), Google's (``X-Goog-Signature``, ``X-Goog-Credential``), an Azure SAS (``sig``),
#: a CloudFront signed URL (``Signature``, ``Key-Pair-Id``) and bearer tokens (``token``,
#: ``access_token``). Narrower than :data:`_SECRET_NAME`: a query's ``key`` is usually a name.
_SECRET_QUERY = re.compile(r"signature|credential|token|passw|secret|accesskeyid|^sig$|^key-pair-id$", re.IGNORECASE)


def check_url_credentials(urls: Iterable[str]) -> None:
    """Refuse a URL with a password in it (``ftp://user:pw@host/x``, ``sftp://``, ``https://``),
    or with a credential in its query: a presigned or signed URL (``?X-Amz-Signature=...``, an
    Azure SAS ``?sig=...``, ``?token=...``).

    A source or output URL is a Prefect parameter and is written into run records, manifests and
    the catalog, so a password inside one would be stored everywhere; a presigned URL's signature
    is a credential too (anyone holding it reads the object until it expires), and it expires, so
    a stored one would not even re-run.

    Raises:
        ValueError: naming the URL with its password or query masked, and what to give instead.
    """
    from urllib.parse import parse_qsl, urlsplit

    for url in urls:
        for link in str(url).split("::"):
            if "://" not in link:
                continue
            try:
                parts = urlsplit(link)
                password = parts.password
            except ValueError:  # not a URL this check can read (e.g. a bad port); fsspec says what is wrong
                continue
            if password:
                masked = parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()  # never the password itself
                raise ValueError(
                    f"{masked} has a password in it, which would be stored with the run (Prefect, run records, catalog); "
                    f"drop it from the URL and give it through the environment or fsspec config (FSSPEC_{parts.scheme.upper()}_PASSWORD)"
                )
            signed = sorted({name for name, _ in parse_qsl(parts.query, keep_blank_values=True) if _SECRET_QUERY.search(name)})
            if signed:
                masked = parts._replace(query="***", fragment="").geturl()  # never the signature itself
                raise ValueError(
                    f"{masked} carries a credential in its query ({', '.join(signed)}): a presigned or signed URL would be stored "
                    f"with the run (Prefect, run records, catalog) and expires; give the bucket's own URL (e.g. s3://bucket/key) "
                    f"with credentials from the environment or --storage-options, or copy the file locally first"
                )


def split_secrets(options: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """``(public, secrets)`` of fsspec storage options.

    A top-level entry goes to ``secrets`` when it is a secret or holds one at any depth (whole,
    because fsspec merges configured options shallowly); everything else stays public.

    Returns:
        The public options (None when ``options`` is None) and the secret ones (possibly empty).
    """
    if options is None:
        return None, {}
    public, secrets = {}, {}
    for name, value in options.items():
        holds_secret = is_secret_key(name) or (isinstance(value, Mapping) and bool(secret_paths(value)))
        (secrets if holds_secret else public)[name] = value
    return public, secrets


def url_protocols(urls: Iterable[str]) -> list[str]:
    """The remote stores' fsspec protocols the URLs use (``s3``, ``gcs``, ...), in order, without
    local files; of a chained URL (``simplecache::s3://b``) the links that name a store (``s3``)."""
    protocols: list[str] = []
    for url in urls:
        for link in str(url).split("::"):
            protocol = link.split("://", 1)[0].lower() if "://" in link else "file"
            if protocol not in _LOCAL and protocol not in protocols:
                protocols.append(protocol)
    return protocols


@contextmanager
def installed_secrets(secrets: Mapping[str, Any], urls: Iterable[str]) -> Iterator[list[str]]:
    """Install ``secrets`` into this process's fsspec configuration for the protocols of ``urls``
    while the block runs; the previous configuration is restored after it (also on error).

    Every filesystem of those protocols created in the block gets them, unless created with its
    own values for the same options. The configuration is process-wide: two runs in one process at
    once with different secrets for the same protocol would see the later one's.

    Yields:
        The protocols the secrets were installed for (empty when there are no secrets).
    """
    from fsspec.config import conf

    protocols = url_protocols(urls) if secrets else []
    saved = {protocol: dict(conf[protocol]) if protocol in conf else None for protocol in protocols}
    try:
        for protocol in protocols:
            conf.setdefault(protocol, {}).update(secrets)
        yield protocols
    finally:
        for protocol, before in saved.items():
            if before is None:
                conf.pop(protocol, None)
            else:
                conf[protocol] = before


def worker_env(secrets: Mapping[str, Any], urls: Iterable[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment variables that give worker processes started from here the same secrets
    through fsspec's configuration (``FSSPEC_<PROTOCOL>`` as JSON, read when fsspec is imported).

    The JSON holds the protocol's configuration in this process (from the user's fsspec files and
    variables) with the secrets over it. A ``FSSPEC_<PROTOCOL>_<OPTION>`` variable inherited from
    ``environ`` for one of the secrets is overridden too: fsspec applies those after the JSON.

    Args:
        secrets: The secret options (from :func:`split_secrets`).
        urls: The run's sources and output.
        environ: The environment the workers inherit (default ``os.environ``).
    """
    import os

    from fsspec.config import conf

    environ = os.environ if environ is None else environ
    env: dict[str, str] = {}
    if not secrets:
        return env
    for protocol in url_protocols(urls):
        name = f"FSSPEC_{protocol.upper()}"
        try:
            env[name] = json.dumps({**conf.get(protocol, {}), **secrets})
            for option, value in secrets.items():
                if f"{name}_{option.upper()}" in environ:
                    env[f"{name}_{option.upper()}"] = json.dumps(value)
        except TypeError as error:  # e.g. a credentials object: it cannot travel as text
            raise ValueError(
                f"storage options {', '.join(secrets)} cannot be passed to worker processes ({error}); "
                "give the workers their credentials through their environment or fsspec config instead"
            ) from None
    return env
