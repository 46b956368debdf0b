"""Storage secrets split from fsspec options and given to the run's filesystems only
(``storage/fs_secrets.py``): the split, the run's context and what stays outside it, the masking,
and the workers' environment."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import threading

import fsspec
import pytest
from fsspec.config import conf

from soccerfactory.storage.fs import filesystem_of, resolve_url
from soccerfactory.storage.fs_secrets import (
    RunSecrets, mask_secrets, run_secrets, secret_paths, split_secrets, url_protocols, with_run_secrets, worker_env,
)

OPTIONS = {
    "key": "AKIAEXAMPLE", "secret": "s3cr3t", "anon": False, "profile": "prod",
    "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"},
}


def test_secrets_are_split_off_and_the_public_options_stay():
    public, secrets = split_secrets(OPTIONS)
    assert public == {"anon": False, "profile": "prod", "client_kwargs": OPTIONS["client_kwargs"]}
    assert secrets == {"key": "AKIAEXAMPLE", "secret": "s3cr3t"}
    assert split_secrets(None) == (None, {})
    assert split_secrets({"anon": True}) == ({"anon": True}, {})


@pytest.mark.parametrize("name", ["token", "session_token", "account_key", "sas_token", "password", "client_secret", "Authorization"])
def test_credential_names_of_other_stores_count_as_secrets(name):
    assert split_secrets({name: "x", "anon": False}) == ({"anon": False}, {name: "x"})


def test_an_entry_with_a_secret_inside_moves_whole_because_fsspec_merges_shallowly():
    options = {"client_kwargs": {"endpoint_url": "http://e", "aws_secret_access_key": "s"}, "headers": {"Accept": "x"}}
    public, secrets = split_secrets(options)
    assert public == {"headers": {"Accept": "x"}} and secrets == {"client_kwargs": options["client_kwargs"]}
    assert secret_paths(options) == ["client_kwargs.aws_secret_access_key"]


def test_protocols_of_the_run_urls_are_the_stores_not_local_files_or_caches_in_a_chain():
    assert url_protocols(["/data/in", "file:///x", "s3://b/in", "simplecache::s3://b/out", "gcs://g/x"]) == ["s3", "gcs"]


def _conf_and_environ() -> str:
    return json.dumps(conf, default=str) + json.dumps(dict(os.environ))


def test_run_secrets_reach_the_runs_filesystems_and_never_fsspecs_config():
    pytest.importorskip("s3fs")
    before = _conf_and_environ()
    seen_by_other_thread = []
    with run_secrets({"key": "k-1-AKIA", "secret": "s-1-secret"}, ["/local/source", "s3://bucket/out"]) as protocols:
        assert protocols == ["s3"]
        fs, path = resolve_url("s3://bucket/out/", {"anon": False, "skip_instance_cache": True})
        assert (fs.key, fs.secret, path) == ("k-1-AKIA", "s-1-secret", "bucket/out")
        # Options given explicitly still win over the run's.
        other, _ = filesystem_of("s3://bucket/out", {"key": "mine", "skip_instance_cache": True})
        assert (other.key, other.secret) == ("mine", "s-1-secret")
        # Code that builds its own filesystem (a library, another flow) gets nothing: not through
        # fsspec's config, not through the environment, not on a thread it starts itself.
        plain, _ = fsspec.core.url_to_fs("s3://bucket/out", skip_instance_cache=True)
        assert plain.key is None and plain.secret is None
        assert "k-1-AKIA" not in _conf_and_environ() and "s-1-secret" not in _conf_and_environ()
        thread = threading.Thread(target=lambda: seen_by_other_thread.append(with_run_secrets("s3://bucket/out", None)))
        thread.start()
        thread.join()
        assert seen_by_other_thread == [{}]
        # Local files never get them.
        assert with_run_secrets("/local/source", None) == {} and with_run_secrets("file:///x", {"auto_mkdir": True}) == {"auto_mkdir": True}
    assert _conf_and_environ() == before and with_run_secrets("s3://bucket/out", None) == {}
    with pytest.raises(RuntimeError), run_secrets({"key": "k-2-AKIA"}, ["s3://b"]):
        assert with_run_secrets("s3://b", None) == {"key": "k-2-AKIA"}
        raise RuntimeError("the run failed")
    assert _conf_and_environ() == before and with_run_secrets("s3://b", None) == {}
    with run_secrets({}, ["s3://b"]) as protocols:
        assert protocols == [] and with_run_secrets("s3://b", {"anon": True}) == {"anon": True}


def test_in_a_chained_url_the_inner_stores_secrets_go_under_its_protocol():
    pytest.importorskip("s3fs")
    with run_secrets({"key": "k-3-AKIA", "secret": "s-3-secret"}, ["simplecache::s3://bucket/in"]):
        options = with_run_secrets("simplecache::s3://bucket/in", {"s3": {"key": "mine"}, "cache_storage": "/tmp/c"})
        assert options == {"s3": {"key": "mine", "secret": "s-3-secret"}, "cache_storage": "/tmp/c"}
        fs, _ = filesystem_of("simplecache::s3://bucket/in", {"s3": {"skip_instance_cache": True}})
        assert (fs.fs.key, fs.fs.secret) == ("k-3-AKIA", "s-3-secret")


def test_two_runs_in_one_process_each_see_their_own_secrets():
    results = {}
    barrier = threading.Barrier(2)

    def run(name: str) -> None:
        with run_secrets({"secret": f"secret-of-{name}"}, ["s3://bucket"]):
            barrier.wait()  # both runs hold their secrets at once
            results[name] = with_run_secrets("s3://bucket", None)
            barrier.wait()

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"a": {"secret": "secret-of-a"}, "b": {"secret": "secret-of-b"}}


def test_a_runs_secrets_are_masked_in_its_errors_and_log_records_and_never_printed_or_pickled(caplog):
    secrets = {"password": "hunter2-pw", "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "aws_secret_access_key": "aws-s3cr3t"},
               "token": {"refresh_token": "rt-123456", "client_id": "client-abc"}, "key": "abc"}
    with run_secrets(secrets, ["sftp://host/in", "s3://b/out"]):
        line = "login hunter2-pw to http://127.0.0.1:9 with aws-s3cr3t / rt-123456 (client-abc)"
        # Every text under a secret name; inside client_kwargs only the secret-named entry; a value
        # too short to be told from ordinary text ("abc") stays.
        assert mask_secrets(line) == "login *** to http://127.0.0.1:9 with *** / *** (***)"
        with caplog.at_level(logging.INFO, logger="sf.test.secrets"):
            logging.getLogger("sf.test.secrets").info("connecting with %s", "hunter2-pw")
            try:
                raise ConnectionError("refused: aws-s3cr3t")
            except ConnectionError:
                logging.getLogger("sf.test.secrets").exception("store failed")
        texts = [caplog.handler.format(record) for record in caplog.records]
        assert texts and all("hunter2-pw" not in t and "aws-s3cr3t" not in t for t in texts), texts
        assert "connecting with ***" in texts[0] and "ConnectionError: refused: ***" in texts[1]
    assert mask_secrets("hunter2-pw") == "hunter2-pw"  # outside the run there is nothing to mask
    held = RunSecrets({"s3": {"secret": "aws-s3cr3t"}})
    assert "aws-s3cr3t" not in repr(held) and "secret" in repr(held)
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(held)


def test_a_worker_process_with_the_environment_sees_the_secrets_in_fsspecs_config():
    secrets = {"key": "k-3", "secret": "007", "client_kwargs": {"endpoint_url": "http://e"}}
    env = worker_env(secrets, ["s3://bucket/in", "/local/out"], environ={"FSSPEC_S3_SECRET": "stale", "PATH": "/bin"})
    assert set(env) == {"FSSPEC_S3", "FSSPEC_S3_SECRET"}  # the inherited per-option variable is overridden too
    code = "import json, fsspec.config; print(json.dumps(fsspec.config.conf.get('s3')))"
    child = subprocess.run([sys.executable, "-c", code], env={"FSSPEC_S3_SECRET": "stale", **env}, capture_output=True, text=True, check=True)
    assert json.loads(child.stdout) == secrets  # "007" stays a string, not the number 7
    assert worker_env({}, ["s3://bucket"]) == {}
    with pytest.raises(ValueError, match="cannot be passed to worker processes") as error:
        worker_env({"token": object()}, ["gcs://bucket"])
    assert "token" in str(error.value)


def test_a_url_with_a_password_is_refused_without_repeating_the_password():
    from soccerfactory.storage.fs_secrets import check_url_credentials

    check_url_credentials(["/data/in", "s3://bucket/in", "https://host/clip.mp4", "ftp://anonymous@host/in", "simplecache::s3://b/x"])
    with pytest.raises(ValueError) as error:
        check_url_credentials(["s3://bucket/in", "simplecache::ftp://user:hunter2@host:21/in"])
    message = str(error.value)
    assert "hunter2" not in message and "user" not in message
    assert message.startswith("ftp://***@host:21/in has a password in it") and "FSSPEC_FTP_PASSWORD" in message


@pytest.mark.parametrize("url, names", [
    ("https://bucket.s3.amazonaws.com/clip.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20261207"
     "&X-Amz-Date=20261207T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=0123abcdSECRET", "X-Amz-Credential, X-Amz-Signature"),
    ("https://acct.blob.core.windows.net/c/clip.mp4?sv=2022-11-02&se=2026-12-08&sp=r&sig=SECRETsas%3D", "sig"),
    ("https://d111.cloudfront.net/clip.mp4?Expires=1765000000&Signature=SECRETcf&Key-Pair-Id=K2JCJMDEHXQW5F", "Key-Pair-Id, Signature"),
    ("simplecache::https://host/clip.mp4?token=SECRETtoken", "token"),
])
def test_a_presigned_or_signed_url_is_refused_without_repeating_its_query(url, names):
    from soccerfactory.storage.fs_secrets import check_url_credentials

    with pytest.raises(ValueError) as error:
        check_url_credentials(["s3://bucket/in", url])
    message = str(error.value)
    assert "SECRET" not in message and "AKIAEXAMPLE" not in message
    assert f"carries a credential in its query ({names})" in message and "?***" in message and "s3://bucket/key" in message


def test_a_query_without_credentials_passes():
    from soccerfactory.storage.fs_secrets import check_url_credentials

    check_url_credentials(["https://host/clip.mp4?v=2&start=10", "https://host/api?key=match-7&format=mp4", "s3://bucket/in?versionId=3"])
