"""fnn.load and fnn.save under attack and under faults.

load: files crafted to cost memory or time (zip bombs, lying sizes, huge directories and
metadata, deep JSON, giant declared shapes, duplicates, pickles, FIFOs, devices) are refused
with a ValueError naming the path, within a small memory bound measured with tracemalloc.
save: every failure a process can see (full disk, Ctrl-C, failed flush, refused rename, bad
names) leaves no temporary file and names the user's path; modes and symlinks behave as
np.savez/open would; temporary files of killed saves are removed by the next save, and those
of live saves never are.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import resource
import signal
import stat
import struct
import subprocess
import sys
import threading
import tracemalloc
import zlib

import numpy as np
import pytest

import fnn

NET = fnn.mlp([3, 4, 2])
PARAMS = fnn.init(NET, key=0)
MiB = 1 << 20
GiB = 1 << 30
#: Peak memory allowed while refusing a hostile file (what the old loader spent: up to 2.4 GB).
BOUND = 2 * MiB


# -- crafting archives byte by byte ------------------------------------------------------------


def npy(array, allow_pickle=False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=allow_pickle)
    return buffer.getvalue()


def npy_header(shape, descr="<f8") -> bytes:
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def meta(**changes) -> bytes:
    fields = {"format": "fnn", "version": 1, **NET._asdict(), "dtype": "float64", **changes}
    return npy(np.array(json.dumps(fields)))


def members(**replaced) -> list:
    """(name, data, directory fields) of a valid archive of NET, with members replaced."""
    entries = {"fnn_meta.npy": meta()}
    for index, layer in enumerate(PARAMS.layers):
        entries[f"W{index}.npy"], entries[f"b{index}.npy"] = npy(layer.W), npy(layer.b)
    entries.update(replaced)
    return [(name, *(e if isinstance(e, tuple) else (e, {}))) for name, e in entries.items()]


def zip_bytes(entries, end=None) -> bytes:
    """A zip of ``entries``; directory ``fields`` may lie: 'method', 'size' (uncompressed),
    'flags'. ``end`` replaces the end-of-directory record."""
    body, directory = bytearray(), bytearray()
    for name, data, fields in entries:
        encoded = name.encode()
        method, size, flags = fields.get("method", 0), fields.get("size", len(data)), fields.get("flags", 0)  # fmt: skip
        crc = zlib.crc32(data) if method == 0 else 0
        offset = len(body)
        body += struct.pack("<4s2B4HL2L2H", b"PK\3\4", 20, 0, flags, method, 0, 33, crc,
                            len(data), size, len(encoded), 0) + encoded + data  # fmt: skip
        directory += struct.pack("<4s4B4HL2L5H2L", b"PK\1\2", 20, 3, 20, 0, flags, method, 0, 33,
                                 crc, len(data), size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded  # fmt: skip
    count = min(len(entries), 0xFFFF)
    end = end or struct.pack(
        "<4s4H2LH", b"PK\5\6", 0, 0, count, count, len(directory), len(body), 0
    )
    return bytes(body + directory + end)


def deflate_bomb(expanded: int) -> bytes:
    """Raw deflate data of ``expanded`` zero bytes, ~1/1000 of that size."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_FULL_FLUSH)  # repeatable
    return piece * (expanded // MiB) + compressor.flush()


def zip64_end(directory_size: int) -> bytes:
    record = struct.pack("<4sQ2H2L4Q", b"PK\6\6", 44, 45, 45, 0, 0, 1, 1, directory_size, 0)
    locator = struct.pack("<4sLQL", b"PK\6\7", 0, 0, 1)
    return (
        record + locator + struct.pack("<4s4H2LH", b"PK\5\6", 0, 0, 1, 1, 2**32 - 1, 2**32 - 1, 0)
    )


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


HOSTILE = {
    # name: tmp_path -> (bytes of the file, words of the error)
    "deflate-bomb": lambda tmp: (
        zip_bytes(members(**{"W0.npy": (deflate_bomb(GiB), {"method": 8, "size": GiB})})),
        "compressed",
    ),
    "stored-size-lie": lambda tmp: (
        zip_bytes(members(**{"W0.npy": (b"\0" * 64, {"size": GiB})})),
        "declares",
    ),
    "metadata-size-lie": lambda tmp: (
        zip_bytes(members(**{"fnn_meta.npy": (meta(), {"size": GiB})})),
        "declares",
    ),
    "metadata-bomb": lambda tmp: (
        zip_bytes(members(**{"fnn_meta.npy": (deflate_bomb(GiB), {"method": 8, "size": GiB})})),
        "compressed",
    ),
    "metadata-300KiB": lambda tmp: (
        zip_bytes(members(**{"fnn_meta.npy": meta(padding="x" * 75_000)})),
        "fnn_meta declares",
    ),
    "metadata-deep-lists": lambda tmp: (
        zip_bytes(members(**{"fnn_meta.npy": npy(np.array("[" * 30_000 + "]" * 30_000))})),
        "fnn_meta holds 30000",
    ),
    "metadata-deep-objects": lambda tmp: (
        zip_bytes(
            members(**{"fnn_meta.npy": npy(np.array('{"a":' * 10_000 + "1" + "}" * 10_000))})
        ),
        "fnn_meta holds 10000",
    ),
    "metadata-huge-integer": lambda tmp: (
        zip_bytes(members(**{"fnn_meta.npy": meta(sizes=[10**3000, 4, 2])})),
        "net.sizes[0] must be <= 1152921504606846975, got an integer >= 2**9965",
    ),
    "giant-network-short-data": lambda tmp: (
        zip_bytes(
            members(
                **{
                    "fnn_meta.npy": meta(sizes=[1, 2**27, 2], activations=["relu", "sigmoid"]),
                    "W0.npy": npy_header((1, 2**27)) + bytes(8),
                }
            )
        ),  # fmt: skip
        "W0 holds",
    ),
    "giant-shape-header": lambda tmp: (
        zip_bytes(members(**{"W0.npy": npy_header((2**40, 4)) + bytes(96)})),
        "W0 has shape",
    ),
    "npy-header-length-lie": lambda tmp: (
        zip_bytes(
            members(**{"W0.npy": b"\x93NUMPY\x02\x00" + struct.pack("<L", 2**32 - 1) + b" " * 100})
        ),
        "header",
    ),
    "object-array": lambda tmp: (
        zip_bytes(
            members(**{"W0.npy": npy(np.array([Payload(tmp / "executed")]), allow_pickle=True)})
        ),
        "dtype object",
    ),
    "duplicate-member": lambda tmp: (
        zip_bytes(members() + [("W0.npy", npy(np.ones((3, 4))), {})]),
        "more than once",
    ),
    "path-in-name": lambda tmp: (
        zip_bytes(members() + [("../W0.npy", b"", {})]),
        "unexpected member",
    ),
    "encrypted": lambda tmp: (
        zip_bytes(members(**{"W0.npy": (npy(PARAMS.layers[0].W), {"flags": 1})})),
        "encrypted",
    ),
    "huge-directory": lambda tmp: (
        zip_bytes([(f"{i}", b"", {}) for i in range(30_000)]),
        "zip directory declares",
    ),
    "scaler-giant-shape": lambda tmp: (
        zip_bytes(
            members(
                **{
                    "fnn_meta.npy": meta(x_scaler=True),
                    "x_mean.npy": npy_header((2**40,)) + bytes(16),
                    "x_scale.npy": npy(np.ones(3)),
                }
            )
        ),
        "x_mean has shape",
    ),
    "scaler-flag-without-members": lambda tmp: (
        zip_bytes(members(**{"fnn_meta.npy": meta(y_scaler=True)})),
        "missing entries ['y_mean', 'y_scale']",
    ),
    "scaler-members-without-flag": lambda tmp: (
        zip_bytes(members(**{"x_mean.npy": npy(np.zeros(3)), "x_scale.npy": npy(np.ones(3))})),
        "unexpected entries ['x_mean', 'x_scale']",
    ),
    "scaler-flag-not-true": lambda tmp: (
        zip_bytes(
            members(
                **{
                    "fnn_meta.npy": meta(x_scaler=1),
                    "x_mean.npy": npy(np.zeros(3)),
                    "x_scale.npy": npy(np.ones(3)),
                }
            )
        ),
        "x_scaler must be true or absent",
    ),
    "scaler-zero-scale": lambda tmp: (
        zip_bytes(
            members(
                **{
                    "fnn_meta.npy": meta(y_scaler=True),
                    "y_mean.npy": npy(np.zeros(2)),
                    "y_scale.npy": npy(np.zeros(2)),
                }
            )
        ),
        "y_scaler.scale must be > 0",
    ),
    "scaler-text-dtype": lambda tmp: (
        zip_bytes(
            members(
                **{
                    "fnn_meta.npy": meta(x_scaler=True),
                    "x_mean.npy": npy(np.array(["a", "b", "c"])),
                    "x_scale.npy": npy(np.ones(3)),
                }
            )
        ),
        "x_mean has dtype <U1",
    ),
    "plateau-not-a-list": lambda tmp: (
        zip_bytes(members(**{"fnn_meta.npy": meta(optimizer="sgd", step=1, plateau="x" * 100)})),
        "plateau must be a list of 4 numbers",
    ),
    "plateau-nan-scale": lambda tmp: (
        zip_bytes(
            members(
                **{"fnn_meta.npy": meta(optimizer="sgd", step=1, plateau=[float("nan"), 1.0, 0, 0])}
            )
        ),
        "plateau.scale must be finite",
    ),
    "plateau-float-counter": lambda tmp: (
        zip_bytes(
            members(**{"fnn_meta.npy": meta(optimizer="sgd", step=1, plateau=[1.0, 1.0, 0.5, 0])})
        ),
        "plateau.bad_epochs",
    ),
    "zip64-directory-lie": lambda tmp: (
        b"PK\3\4" + b"\0" * 200 + zip64_end(2**40),
        "zip directory declares 1099511627776",
    ),
}


def peak_memory(call):
    """Peak bytes traced (Python and NumPy allocations) while ``call()`` runs, and its error."""
    tracemalloc.start()
    try:
        call()
    except Exception as error:
        raised = error
    else:
        raised = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, raised


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_archives_are_refused_within_a_memory_bound(tmp_path, kind):
    content, words = HOSTILE[kind](tmp_path)
    path = tmp_path / "hostile.npz"
    path.write_bytes(content)
    for load in (fnn.load, fnn.load_state, fnn.load_scalers):
        peak, error = peak_memory(lambda: load(path))  # noqa: B023
        assert isinstance(error, ValueError), error
        assert "hostile.npz" in str(error) and words in str(error) and "\n" not in str(error)
        assert peak < BOUND, f"{kind}: {peak} bytes"
    assert not (tmp_path / "executed").exists()  # no pickle ever runs


def test_the_crafted_zips_are_read_by_zipfile(tmp_path):
    """The crafting above makes real zips: the valid one loads, bit for bit."""
    path = tmp_path / "crafted.npz"
    path.write_bytes(zip_bytes(members()))
    net, params = fnn.load(path)
    assert net == NET and all(np.array_equal(a, b) for la, lb in zip(params.layers, PARAMS.layers)
                              for a, b in zip(la, lb))  # fmt: skip


def test_loading_a_valid_archive_costs_its_arrays_and_little_more(tmp_path):
    net = fnn.mlp([256, 1024, 10])
    params = fnn.init(net, key=1)
    path = tmp_path / "big.npz"
    fnn.save(path, net, params)
    nbytes = sum(part.nbytes for layer in params.layers for part in layer)
    peak, error = peak_memory(lambda: fnn.load(path))
    assert error is None
    assert nbytes < peak < nbytes + 4 * MiB  # the old loader held every array twice


def test_directories_fifos_and_devices_are_value_errors_and_never_block(tmp_path):
    directory = tmp_path / "folder.npz"
    directory.mkdir()
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    link = tmp_path / "link-to-pipe.npz"
    link.symlink_to(fifo)
    outcomes = {}

    def load_all():
        for path, words in [(directory, "is a directory"), (fifo, "is a FIFO"),
                            (link, "is a FIFO"), (os.devnull, "is a character device")]:  # fmt: skip
            with pytest.raises(ValueError, match=words) as caught:
                fnn.load(path)
            outcomes[str(path)] = str(caught.value)

    worker = threading.Thread(target=load_all, daemon=True)
    worker.start()
    worker.join(timeout=30)
    if worker.is_alive():  # blocked on the FIFO: unblock it, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("fnn.load blocked on a FIFO")
    assert len(outcomes) == 4 and all(path in text for path, text in outcomes.items())


def test_missing_files_stay_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fnn.load(tmp_path / "absent.npz")
    with pytest.raises(ValueError, match="NUL"):
        fnn.load("a\0b.npz")


# -- save: nothing left behind -----------------------------------------------------------------


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in pathlib.Path(directory).iterdir() if ".fnn-tmp-" in p.name)


def test_a_full_disk_leaves_the_old_archive_and_no_temporary_file(tmp_path):
    """A file-size limit makes writes fail as a full disk does, including the flush that
    closing the temporary file attempts again."""
    path = tmp_path / "model.npz"
    fnn.save(path, NET, PARAMS)
    big = fnn.mlp([256, 512, 4])
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, hard))
    try:
        with pytest.raises(OSError, match="model.npz") as caught:
            fnn.save(path, big, fnn.init(big))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert caught.value.filename == str(path) and ".fnn-tmp-" not in str(caught.value)
    assert leftovers(tmp_path) == [] and fnn.load(path)[0] == NET


@pytest.mark.parametrize("fault", ["KeyboardInterrupt", "fsync", "replace"])
def test_an_interrupted_or_failed_save_leaves_no_temporary_file(tmp_path, monkeypatch, fault):
    path = tmp_path / "model.npz"
    real_savez = np.savez

    def savez_then_interrupt(file, **arrays):
        real_savez(file, **arrays)
        raise KeyboardInterrupt

    def fail(*args):
        raise OSError(5, "Input/output error", args[0])

    if fault == "KeyboardInterrupt":
        monkeypatch.setattr(np, "savez", savez_then_interrupt)
    else:
        monkeypatch.setattr(os, fault, fail)
    with pytest.raises(KeyboardInterrupt if fault == "KeyboardInterrupt" else OSError) as caught:
        fnn.save(path, NET, PARAMS)
    if fault != "KeyboardInterrupt":
        assert caught.value.filename == str(path) and caught.value.errno == 5
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["folder.npz", "x" * 300 + ".npz", "nul\0.npz"])
def test_refused_names_leave_no_temporary_file_and_are_named(tmp_path, name):
    (tmp_path / "folder.npz").mkdir()
    path = os.path.join(tmp_path, name)
    with pytest.raises((OSError, ValueError)) as caught:
        fnn.save(path, NET, PARAMS)
    assert repr(path) in str(caught.value) and ".fnn-tmp-" not in str(caught.value)
    assert leftovers(tmp_path) == []
    if name == "folder.npz":
        assert isinstance(caught.value, IsADirectoryError)


# -- save: mode and symlinks -------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_has_the_mode_np_savez_gives(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        fnn.save(tmp_path / "fnn.npz", NET, PARAMS)
        np.savez(tmp_path / "numpy.npz", a=np.ones(2))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "fnn.npz").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "numpy.npz").stat().st_mode) == mode


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "model.npz"
    fnn.save(path, NET, PARAMS)
    path.chmod(0o640)
    fnn.save(path, NET, fnn.init(NET, key=5))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_saving_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "model.npz"
    fnn.save(target, NET, PARAMS)
    link = tmp_path / "latest.npz"
    link.symlink_to(target)
    new = fnn.init(NET, key=7)
    fnn.save(link, NET, new)
    assert link.is_symlink() and np.array_equal(fnn.load(target)[1].layers[0].W, new.layers[0].W)
    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(tmp_path / "runs" / "created.npz")
    fnn.save(dangling, NET, new)  # as open(path, "w"): the link's target is created
    assert dangling.is_symlink() and (tmp_path / "runs" / "created.npz").is_file()
    (tmp_path / "loop1.npz").symlink_to(tmp_path / "loop2.npz")
    (tmp_path / "loop2.npz").symlink_to(tmp_path / "loop1.npz")
    with pytest.raises(OSError, match="loop1.npz"):
        fnn.save(tmp_path / "loop1.npz", NET, new)
    assert leftovers(tmp_path) == leftovers(tmp_path / "runs") == []


# -- save: temporary files of killed saves -----------------------------------------------------


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_stale_temporaries_are_removed_and_live_ones_kept(tmp_path):
    import fcntl

    dead = dead_pid()
    stale = tmp_path / f".model.npz.fnn-tmp-{dead}-0123456789ab"
    mine = tmp_path / f".model.npz.fnn-tmp-{os.getpid()}-0123456789ab"  # a live process's
    locked = (
        tmp_path / f".model.npz.fnn-tmp-{dead}-ba9876543210"
    )  # a saver in another PID namespace
    other_path = tmp_path / f".other.npz.fnn-tmp-{dead}-0123456789ab"
    not_ours = tmp_path / ".model.npz.fnn-tmp-notes"
    for file in (stale, mine, locked, other_path, not_ours):
        file.write_bytes(b"partial")
    with open(locked, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        fnn.save(tmp_path / "model.npz", NET, PARAMS)
    assert not stale.exists()
    assert all(f.exists() for f in (mine, locked, other_path, not_ours))


CHILD = """
import sys
import numpy as np
import fnn

real_savez = np.savez


def savez_then_wait(file, **arrays):
    real_savez(file, **arrays)
    print("written", flush=True)
    sys.stdin.readline()  # until the parent says go on, or kills us


np.savez = savez_then_wait
net = fnn.mlp([3, 4, 2])
fnn.save(sys.argv[1], net, fnn.init(net, key=int(sys.argv[2])))
print("saved", flush=True)
"""


def test_a_save_killed_midway_is_cleaned_by_the_next_while_a_live_one_completes(tmp_path):
    path = tmp_path / "model.npz"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(key)],
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )  # fmt: skip
        for key in (1, 2)
    ]
    try:
        assert [child.stdout.readline() for child in children] == ["written\n"] * 2
        killed, live = children
        names = leftovers(tmp_path)
        assert len(names) == 2 and all(n.startswith(".model.npz.fnn-tmp-") for n in names)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        fnn.save(path, NET, PARAMS)  # removes the killed save's file, not the live one's
        assert leftovers(tmp_path) == [n for n in names if f"-{live.pid}-" in n]
        live.stdin.write("\n")
        live.stdin.flush()
        assert live.stdout.readline() == "saved\n" and live.wait(timeout=30) == 0
    finally:
        for child in children:
            child.kill()
            child.wait()
            child.stdin.close()
            child.stdout.close()
    assert leftovers(tmp_path) == []
    live_params = fnn.init(NET, key=2)
    assert np.array_equal(fnn.load(path)[1].layers[0].W, live_params.layers[0].W)
