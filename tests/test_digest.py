"""Models keyed by their whole content: the sha256 cache of assets.digest and resolve_model."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from bert_sweep.assets import digest
from bert_sweep.assets.digest import digest_dir, file_hashes, sha256_file
from bert_sweep.assets.resolve import resolve_model
from bert_sweep.config.schema import AssetsConfig, ModelConfig

MIB = 1 << 20


def _edit_middle(path: Path) -> os.stat_result:
    """Flip one byte in the middle of the file (same size) and put its mtime back."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    return before


def test_an_old_file_is_hashed_once_and_then_remembered(tmp_path):
    from bert_sweep.assets.vocab import packaged_vocab

    old = packaged_vocab()  # installed with the venv: its ctime is long past
    store = digest_dir(tmp_path)
    first = file_hashes(old, store)
    assert first == {
        "sha256": hashlib.sha256(old.read_bytes()).hexdigest(),
        "md5": hashlib.md5(old.read_bytes()).hexdigest(),
    }
    # The next call answers from the entry, not by reading the file: a doctored entry shows it.
    (entry,) = store.glob("*.json")
    doctored = json.loads(entry.read_text()) | {"sha256": "f" * 64}
    entry.write_text(json.dumps(doctored))
    assert sha256_file(old, store) == "f" * 64
    assert sha256_file(old, None) == first["sha256"]  # no store: always hashed


def test_same_size_edit_with_mtime_restored_changes_the_digest(tmp_path, monkeypatch):
    # Trust entries at once (no settling time), so only the stamp decides.
    monkeypatch.setattr(digest, "SETTLE_NS", 0)
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(3 * MIB))
    store = digest_dir(tmp_path / "cache")
    original = sha256_file(model, store)
    before = _edit_middle(model)
    after = model.stat()
    # Size, mtime and inode are all put back: only the ctime (which no program can set) moved.
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    assert after.st_ctime_ns != before.st_ctime_ns
    edited = sha256_file(model, store)
    assert edited != original
    assert edited == hashlib.sha256(model.read_bytes()).hexdigest()


def test_an_entry_younger_than_its_file_settling_time_is_not_trusted(tmp_path):
    # Default SETTLE_NS: a file written just now is hashed on every call until it settles, so an
    # edit within the same timestamp tick can't hide behind an equal stamp.
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(MIB))
    store = digest_dir(tmp_path / "cache")
    sha256_file(model, store)
    (entry,) = store.glob("*.json")
    entry.write_text(json.dumps(json.loads(entry.read_text()) | {"sha256": "f" * 64}))
    assert sha256_file(model, store) == hashlib.sha256(model.read_bytes()).hexdigest()


def test_a_copy_or_a_replaced_file_is_hashed_again(tmp_path, monkeypatch):
    monkeypatch.setattr(digest, "SETTLE_NS", 0)
    store = digest_dir(tmp_path / "cache")
    a = tmp_path / "a.bin"
    a.write_bytes(b"a" * 4096)
    b = tmp_path / "b.bin"
    b.write_bytes(b"b" * 4096)
    assert sha256_file(a, store) == hashlib.sha256(b"a" * 4096).hexdigest()
    shutil.copy2(b, tmp_path / "swap")
    os.replace(tmp_path / "swap", a)  # another inode under the same name, mtime of b
    assert sha256_file(a, store) == hashlib.sha256(b"b" * 4096).hexdigest()


def test_resolve_model_keys_by_the_whole_content(tmp_path):
    """Two models of the same size, same first and last MiB, one byte apart in the middle: the
    old key (size + first/last MiB) was equal for both, so accuracy was reused across them."""
    original = tmp_path / "original.onnx"
    original.write_bytes(os.urandom(3 * MIB))
    copy = tmp_path / "edited.onnx"
    shutil.copy(original, copy)
    _edit_middle(copy)
    assets = AssetsConfig(cache_dir=str(tmp_path / "cache"))

    def digest_of(path: Path) -> str:
        return resolve_model(ModelConfig(name="file", source="file", file=str(path)), assets).digest

    assert digest_of(original) == hashlib.sha256(original.read_bytes()).hexdigest()
    assert digest_of(copy) != digest_of(original)


@pytest.mark.parametrize("store", [None, "cache"])
def test_unwritable_store_still_hashes(tmp_path, store):
    model = tmp_path / "m.bin"
    model.write_bytes(b"x" * 100)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the store folder would be")
    folder = None if store is None else blocker / "digests"
    assert sha256_file(model, folder) == hashlib.sha256(b"x" * 100).hexdigest()
