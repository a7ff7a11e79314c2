"""Downloads: the shared data folder as a mirror, the cache, and a real local HTTP server."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from bert_sweep.assets.catalog import CATALOG, SQUAD_DEV, VOCAB, RemoteFile, lookup
from bert_sweep.assets.digest import digest_dir
from bert_sweep.assets.download import fetch
from bert_sweep.errors import AssetError, ConfigError


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files left in a cache folder."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".part")))


# -- catalog -----------------------------------------------------------------------------------
def test_catalog_lookup():
    assert lookup("vocab") is VOCAB
    assert {r.name for r in CATALOG.values()} >= {"dev-v1.1.json", "vocab.txt", "model.onnx"}
    with pytest.raises(ConfigError, match=r"asset='bert': expected one of \["):
        lookup("bert")


# -- mirror and cache --------------------------------------------------------------------------
@pytest.mark.parametrize("as_url", [False, True])
def test_mirror_with_other_file_names_fills_the_cache(tmp_path, shared_data, as_url):
    mirror = shared_data.as_uri() if as_url else shared_data
    cache = tmp_path / "cache"
    for remote in (SQUAD_DEV, VOCAB):
        path = fetch(remote, cache, mirror=mirror, offline=True, progress=False)
        assert path == cache / remote.name
        assert md5(path) == remote.md5 and path.stat().st_size == remote.size
        remembered = [json.loads(e.read_text()) for e in digest_dir(cache).glob("*.json")]
        entry = next(e for e in remembered if e["path"] == str(path.resolve()))
        assert entry["md5"] == remote.md5  # verified once, remembered for the next run
    assert leftovers(cache) == []


def test_cache_hit_does_no_copy_and_a_changed_cache_file_is_rejected(tmp_path, shared_data):
    cache = tmp_path / "cache"
    path = fetch(VOCAB, cache, mirror=shared_data, offline=True, progress=False)
    before = path.stat()
    again = fetch(VOCAB, cache, mirror=shared_data, offline=True, progress=False)
    after = again.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # A hit needs no mirror at all.
    assert fetch(VOCAB, cache, mirror=tmp_path / "gone", offline=True, progress=False) == path
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    # Same size, mtime put back: only the ctime (which no program can set) shows the edit.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(AssetError) as err:
        fetch(VOCAB, cache, offline=True, progress=False)
    message = str(err.value)
    assert f"cached file {path} has md5 {md5(path)}, expected {VOCAB.md5}" in message
    assert "\n" not in message


def test_corrupt_mirror_file_is_rejected(tmp_path, shared_data):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = bytearray((shared_data / "bert-uncased-vocab.txt").read_bytes())
    data[1234] ^= 0x01
    (mirror / "vocab.txt").write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(AssetError) as err:
        fetch(VOCAB, cache, mirror=mirror, offline=True, progress=False)
    bad_md5 = hashlib.md5(bytes(data)).hexdigest()
    assert str(err.value) == (
        f"vocab.txt: mirror file {mirror / 'vocab.txt'} has md5 {bad_md5}, "
        f"expected {VOCAB.md5}; delete or replace it"
    )
    assert not (cache / "vocab.txt").exists() and leftovers(cache) == []
    # Under another name a corrupt copy is simply not the file we look for.
    (mirror / "vocab.txt").rename(mirror / "bert-vocab.txt")
    with pytest.raises(AssetError, match=f"not in mirror {mirror}, download of"):
        fetch(VOCAB, cache, mirror=mirror, offline=True, progress=False)


def test_offline_with_nothing_names_url_and_where_to_place_the_file(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(AssetError) as err:
        fetch(VOCAB, cache, mirror=tmp_path / "nomirror", offline=True, progress=False)
    assert str(err.value) == (
        f"vocab.txt: not in cache {cache}, not in mirror {tmp_path / 'nomirror'} (no such folder), "
        f"download of {VOCAB.url} skipped (offline); place the file by hand at "
        f"{cache / 'vocab.txt'} (md5 {VOCAB.md5})"
    )


# -- HTTP ------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    """Serves server.payload at /blob.bin, honouring `Range: bytes=N-` unless told not to."""

    def do_GET(self):
        srv = self.server
        srv.ranges.append(self.headers.get("Range"))
        if self.path != "/blob.bin":
            self.send_error(404)
            return
        first = 0
        rng = self.headers.get("Range")
        if rng and srv.honour_range:
            first = int(rng.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header(
                "Content-Range", f"bytes {first}-{len(srv.payload) - 1}/{len(srv.payload)}"
            )
        else:
            self.send_response(200)
        body = srv.payload[first:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.drop_after is not None:  # first response only: cut the connection midway
            body, srv.drop_after = body[: srv.drop_after], None
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.payload = np.random.default_rng(7).bytes(2_500_000)
    httpd.ranges, httpd.drop_after, httpd.honour_range = [], None, True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _remote(server, path="/blob.bin", md5=None) -> RemoteFile:
    return RemoteFile(
        name="blob.bin",
        url=f"http://127.0.0.1:{server.server_address[1]}{path}",
        md5=md5 or hashlib.md5(server.payload).hexdigest(),
        size=len(server.payload),
        description="test payload",
    )


def test_interrupted_download_resumes_with_range(tmp_path, server):
    server.drop_after = 1_000_000
    cache = tmp_path / "cache"
    path = fetch(_remote(server), cache, progress=False)
    assert path.read_bytes() == server.payload
    assert server.ranges == [None, "bytes=1000000-"]
    assert leftovers(cache) == []


def test_existing_part_file_is_resumed(tmp_path, server):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "blob.bin.part").write_bytes(server.payload[:700_000])
    path = fetch(_remote(server), cache, progress=False)
    assert path.read_bytes() == server.payload
    assert server.ranges == ["bytes=700000-"]


def test_server_ignoring_range_restarts_from_zero(tmp_path, server):
    server.honour_range = False
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "blob.bin.part").write_bytes(b"x" * 500_000)  # garbage that must not survive
    assert fetch(_remote(server), cache, progress=False).read_bytes() == server.payload


def test_download_with_wrong_md5_is_deleted(tmp_path, server):
    cache = tmp_path / "cache"
    remote = _remote(server, md5="0" * 32)
    with pytest.raises(
        AssetError, match=r"blob.bin: download of .* has md5 [0-9a-f]{32}, expected 0{32}"
    ):
        fetch(remote, cache, progress=False)
    assert list(cache.iterdir()) == []


def test_http_error_is_one_line(tmp_path, server):
    cache = tmp_path / "cache"
    remote = _remote(server, path="/missing.bin")
    with pytest.raises(
        AssetError, match=r"download of .*/missing.bin failed \(HTTP 404 .*\); place"
    ):
        fetch(remote, cache, progress=False)


def test_unreachable_url_fails_fast_with_one_line(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    remote = RemoteFile("blob.bin", f"http://127.0.0.1:{port}/blob.bin", "0" * 32, 10, "none")
    cache = tmp_path / "cache"
    with pytest.raises(AssetError) as err:
        fetch(remote, cache, progress=False)
    message = str(err.value)
    assert message.startswith(f"blob.bin: not in cache {cache}, no mirror given, download of ")
    assert f"{remote.url} failed (" in message and "refused" in message.lower()
    assert message.endswith(f"place the file by hand at {cache / 'blob.bin'} (md5 {'0' * 32})")
    assert "\n" not in message


def test_an_attempt_that_received_nothing_is_not_retried(tmp_path, server):
    """Fails fast without a wall-clock bound: one request, although a retry would succeed."""
    server.drop_after = 0  # the first response sends headers and no body
    with pytest.raises(AssetError, match="connection closed after 0 bytes"):
        fetch(_remote(server), tmp_path / "cache", progress=False)
    assert server.ranges == [None]
