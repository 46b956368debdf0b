"""Storage secrets kept out of orchestration records and out of fsspec's process-wide config:
split them from fsspec storage options and hand them to the run's filesystems only.

Why: Prefect stores every flow parameter (and shows it in the UI), so S3 keys passed to a flow as
``storage_options`` would sit in its database. ``run_curate`` therefore splits the options it is
given (:func:`split_secrets`): the public part (``client_kwargs.endpoint_url``, ``anon``,
``profile``, ...) is the flow's parameter; the secret part is held for the run in a context
variable (:func:`run_secrets`), which Prefect copies into the flow and into every task it runs on
a thread of this process. :func:`with_run_secrets` merges them, under the options given
explicitly, into the options of each filesystem built from a URL of one of the run's stores
(``storage.fs.filesystem_of``, the one place that builds one), so the tasks, called with the
public part only, reach the bucket with the secrets although no Prefect record holds them.

Why not fsspec's own configuration (what this module did until issue 17): ``fsspec.config.conf``
is process-wide, so while a run was going every other flow, thread or library of the process got
its keys for that protocol, and a run ending abnormally could leave them behind. Code outside the
run's context (another flow, a thread it did not start, a library calling ``url_to_fs`` itself)
now sees nothing, and nothing is left to undo. The local Dask cluster's worker *processes* get the
secrets in their environment (:func:`worker_env`; fsspec reads ``FSSPEC_<PROTOCOL>`` on import):
they are the run's own processes and end with it.

While a run holds secrets, every log record made in its context and every error line
:func:`mask_secrets` is given has the secret values replaced by ``***``.

Where secrets come from otherwise, unchanged: the store's own chain (for S3 via botocore:
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, an instance role) and fsspec's
configuration (``FSSPEC_S3_KEY``/``FSSPEC_S3_SECRET`` or ``FSSPEC_S3`` as JSON, files in
``~/.config/fsspec`` or ``FSSPEC_CONFIG_DIR``), both read on each machine, so Dask workers on
other machines use their own.

fsspec merges configured and given options shallowly (an explicit ``client_kwargs`` replaces a
configured one whole), and so does :func:`with_run_secrets`; so a public entry with a secret
inside (``client_kwargs.aws_secret_access_key``) moves to the secret part whole.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "RunSecrets", "check_url_credentials", "is_secret_key", "mask_secrets", "run_secrets", "secret_paths", "split_secrets",
    "url_protocols", "with_run_secrets", "worker_env",
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


def _link_protocols(url: str) -> list[str]:
    """The protocol of each link of ``url``, outermost first (``simplecache::s3://b`` -> ``["simplecache", "s3"]``)."""
    return [link.split("://", 1)[0].lower() if "://" in link else "file" for link in str(url).split("::")]


def url_protocols(urls: Iterable[str]) -> list[str]:
    """The remote stores' fsspec protocols the URLs use (``s3``, ``gcs``, ...), in order, without
    local files; of a chained URL (``simplecache::s3://b``) the links that name a store (``s3``)."""
    protocols: list[str] = []
    for url in urls:
        for protocol in _link_protocols(url):
            if protocol not in _LOCAL and protocol not in protocols:
                protocols.append(protocol)
    return protocols


#: Secret values shorter than this are not masked in text: they would hit ordinary words (a
#: one-letter test secret would star every "s"), and so short a credential protects nothing.
_MIN_MASKED = 4


def _secret_values(options: Mapping[str, Any], secret: bool = False) -> Iterator[str]:
    """The text values of the secret entries of ``options``: every text under a secret name
    (``token: {"refresh_token": ..., "client_id": ...}`` whole), and inside an entry that only holds
    one (``client_kwargs``) the secret-named ones alone (its ``endpoint_url`` is not masked)."""
    for name, value in options.items():
        here = secret or is_secret_key(name)
        if isinstance(value, Mapping):
            yield from _secret_values(value, here)
        elif here and isinstance(value, (str, bytes)):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            if len(text) >= _MIN_MASKED:
                yield text


@dataclass(frozen=True, repr=False, eq=False)
class RunSecrets:
    """A run's secret storage options, per protocol of its stores; never printed (see ``__repr__``).

    Attributes:
        options: Protocol (``s3``) -> the secret options every filesystem of that protocol gets.
        masked: The text values to replace by ``***`` in logs and errors, longest first.
    """

    options: Mapping[str, Mapping[str, Any]]
    masked: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not all(isinstance(p, str) and p and isinstance(o, Mapping) for p, o in self.options.items()):
            raise ValueError("RunSecrets.options maps protocol names to option mappings")
        object.__setattr__(self, "options", MappingProxyType({p: dict(o) for p, o in self.options.items()}))
        values = {v for o in self.options.values() for v in _secret_values(o)}
        object.__setattr__(self, "masked", tuple(sorted(values, key=lambda v: (-len(v), v))))

    def __repr__(self) -> str:  # names only: a repr ends up in tracebacks and debuggers
        names = sorted({name for o in self.options.values() for name in o})
        return f"RunSecrets(protocols={sorted(self.options)}, options={names})"

    def __reduce__(self):  # never pickled: it must not travel to Dask workers or result stores
        raise TypeError("RunSecrets are not pickled; worker processes get secrets from their environment (worker_env)")


#: The secrets of the run whose context this is (None outside a run). A context variable, not a
#: global: Prefect copies it into the flow and its thread-pool tasks, and nothing else sees it.
_RUN_SECRETS: ContextVar[RunSecrets | None] = ContextVar("soccerfactory_run_secrets", default=None)


@contextmanager
def run_secrets(secrets: Mapping[str, Any], urls: Iterable[str]) -> Iterator[list[str]]:
    """Hold ``secrets`` for the protocols of ``urls`` in this context while the block runs.

    Inside the block (and in the Prefect flow and tasks started from it, and threads started with
    a copy of its context), :func:`with_run_secrets` adds them to the options of every filesystem
    of those protocols built through ``storage.fs.filesystem_of``; log records made there are
    masked (:func:`mask_secrets`). Nothing is written to ``fsspec.config.conf`` or the environment,
    so other code in the process never sees them and nothing is left behind, even on error.
    Nested runs with other secrets each see their own.

    Yields:
        The protocols the secrets are held for (empty when there are no secrets).
    """
    protocols = url_protocols(urls) if secrets else []
    if not protocols:
        yield []
        return
    _install_log_masking()
    token = _RUN_SECRETS.set(RunSecrets({protocol: dict(secrets) for protocol in protocols}))
    try:
        yield protocols
    finally:
        _RUN_SECRETS.reset(token)


def with_run_secrets(url: str, storage_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The options to build the filesystem of ``url`` with: ``storage_options`` over the current
    run's secrets for the URL's protocols (explicit options win, merged shallowly, as fsspec does
    with its configuration). In a chained URL (``simplecache::s3://b/x``) an inner link's secrets
    go under its protocol's key (``{"s3": {...}}``), where ``fsspec.core.url_to_fs`` looks.

    Returns:
        A new dict; ``storage_options`` as it is outside a run or for a store without secrets.
    """
    options = dict(storage_options or {})
    active = _RUN_SECRETS.get()
    if active is None:
        return options
    for position, protocol in enumerate(_link_protocols(url)):
        secret = active.options.get(protocol)
        if not secret:
            continue
        if position == 0:
            options = {**secret, **options}
        else:
            options[protocol] = {**secret, **dict(options.get(protocol) or {})}
    return options


def mask_secrets(text: str) -> str:
    """``text`` with every secret value of the current run replaced by ``***`` (unchanged outside a run)."""
    active = _RUN_SECRETS.get()
    if active is None or not text:
        return text
    for value in active.masked:
        text = text.replace(value, "***")
    return text


_MASKING_LOCK = threading.Lock()
_masking_installed = False


def _install_log_masking() -> None:
    """Wrap the logging record factory (once per process) so that a record made in a run's
    context has its message and traceback masked before any handler (console, Prefect's API) sees
    it; outside a run the wrapper only looks the context variable up."""
    global _masking_installed
    with _MASKING_LOCK:
        if _masking_installed:
            return
        previous = logging.getLogRecordFactory()

        def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _RUN_SECRETS.get() is not None:
                _mask_record(record)
            return record

        logging.setLogRecordFactory(masking_factory)
        _masking_installed = True


def _mask_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record is logging's problem to report, unmasked args dropped
        message = str(record.msg)
    masked = mask_secrets(message)
    if masked != message:
        record.msg, record.args = masked, ()
    if record.exc_info and record.exc_info[0] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        masked = mask_secrets(text)
        if masked != text:  # formatters print a record's cached exc_text instead of formatting again
            record.exc_text = masked


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
