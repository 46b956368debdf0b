"""Storage secrets split from fsspec options and handed to fsspec's configuration instead
(``storage/fs_secrets.py``): the split, the install and its undo, and the workers' environment."""

from __future__ import annotations

import json
import subprocess
import sys

import fsspec
import pytest
from fsspec.config import conf

from soccerfactory.storage.fs_secrets import installed_secrets, secret_paths, split_secrets, url_protocols, worker_env

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


def test_installed_secrets_reach_new_filesystems_and_are_removed_after():
    pytest.importorskip("s3fs")
    conf_before = json.dumps(conf, default=str)
    with installed_secrets({"key": "k-1", "secret": "s-1"}, ["/local/source", "s3://bucket/out"]) as protocols:
        assert protocols == ["s3"]
        fs, _ = fsspec.core.url_to_fs("s3://bucket/out", anon=False, skip_instance_cache=True)
        assert (fs.key, fs.secret) == ("k-1", "s-1")
        # Options given explicitly still win over the installed ones.
        other, _ = fsspec.core.url_to_fs("s3://bucket/out", key="mine", skip_instance_cache=True)
        assert other.key == "mine"
    assert json.dumps(conf, default=str) == conf_before
    with pytest.raises(RuntimeError), installed_secrets({"key": "k-2"}, ["s3://b"]):
        raise RuntimeError("the run failed")
    assert json.dumps(conf, default=str) == conf_before


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
