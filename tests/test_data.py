"""helpers.data on tiny IDX files made here, served (when a download is tested) from loopback."""

import errno
import gzip
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pooch
import pytest

from helpers import data

RNG = np.random.default_rng(0)
TINY = {
    "train-images-idx3-ubyte": RNG.integers(0, 256, (6, 4, 4), dtype=np.uint8),
    "train-labels-idx1-ubyte": RNG.integers(0, 10, 6, dtype=np.uint8),
    "t10k-images-idx3-ubyte": RNG.integers(0, 256, (3, 4, 4), dtype=np.uint8),
    "t10k-labels-idx1-ubyte": RNG.integers(0, 10, 3, dtype=np.uint8),
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic number, sizes (big-endian), then the bytes."""
    sizes = b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return bytes([0, 0, 8, array.ndim]) + sizes + array.tobytes()


def md5(blob: bytes) -> str:
    return hashlib.md5(blob).hexdigest()


def closed_port_url() -> str:
    """A loopback URL on which nothing listens: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """Point helpers.data at empty folders, an unreachable mirror and the tiny files' MD5s."""
    raw = {name: idx_bytes(array) for name, array in TINY.items()}
    gz = {name: gzip.compress(blob) for name, blob in raw.items()}
    monkeypatch.setattr(data, "FILES", {n: (md5(raw[n]), md5(gz[n])) for n in TINY})
    monkeypatch.setenv("CNN_TUTORIAL_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(data, "MIRRORS", (closed_port_url(),))
    return SimpleNamespace(
        raw=raw, gz=gz, cache=tmp_path / "cache" / "fashion-mnist", debian=tmp_path / "debian"
    )


def put(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, blob in files.items():
        (folder / f"{name}.gz").write_bytes(blob)


def assert_tiny_loaded(result) -> None:
    (x_train, y_train), (x_test, y_test) = result
    got = [x_train, y_train, x_test, y_test]
    for array, expected in zip(got, TINY.values(), strict=True):
        assert array.dtype == np.uint8
        np.testing.assert_array_equal(array, expected)


@pytest.fixture
def server():
    """A loopback HTTP server: `server.files` maps '/name' to bytes; `server.mode` misbehaves."""
    files: dict[str, bytes] = {}
    state = SimpleNamespace(files=files, mode="ok", requests=0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the name http.server asks for)
            state.requests += 1
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            if state.mode == "hang":
                time.sleep(3)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.mode == "truncate":  # promise the whole file, send half, hang up
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    yield state
    httpd.shutdown()
    httpd.server_close()


def serve(server, tiny, monkeypatch, files=None) -> None:
    server.files.update({f"/{n}.gz": blob for n, blob in (files or tiny.gz).items()})
    monkeypatch.setattr(data, "MIRRORS", (server.url,))


# --- where the files come from ---------------------------------------------------------------


def test_loads_from_the_cache(tiny):
    put(tiny.cache, tiny.gz)
    assert_tiny_loaded(data.load_fashion_mnist())


def test_arrays_are_writable_as_keras_returns_them(tiny):
    put(tiny.cache, tiny.gz)
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    for array in (x_train, y_train, x_test, y_test):
        assert array.flags.writeable
    np.random.default_rng(0).shuffle(y_train)  # what a student may do
    x_train[0, 0, 0] = 255


def test_reads_debians_folder_in_place(tiny):
    put(tiny.debian, tiny.gz)
    assert_tiny_loaded(data.load_fashion_mnist())
    assert {p.parent for p in data.find_files().values()} == {tiny.debian}
    assert not tiny.cache.exists(), "Debian's files are read in place, not copied"


def test_cache_wins_over_debian(tiny):
    put(tiny.debian, tiny.gz)
    put(tiny.cache, {"t10k-labels-idx1-ubyte": tiny.gz["t10k-labels-idx1-ubyte"]})
    found = data.find_files()
    assert found["t10k-labels-idx1-ubyte"].parent == tiny.cache
    assert found["train-images-idx3-ubyte"].parent == tiny.debian


def test_data_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CNN_TUTORIAL_DATA", str(tmp_path))
    assert data.data_dir() == tmp_path
    monkeypatch.delenv("CNN_TUTORIAL_DATA")
    assert data.data_dir() == Path(data.__file__).resolve().parent.parent / "data"


# --- damaged files ---------------------------------------------------------------------------


def test_truncated_file_names_the_file_and_the_fix(tiny):
    name = "train-images-idx3-ubyte"
    put(tiny.cache, {**tiny.gz, name: tiny.gz[name][:-9]})
    with pytest.raises(data.DataError) as err:
        data.load_fashion_mnist()
    message = str(err.value)
    assert str(tiny.cache / f"{name}.gz") in message
    assert "not a complete gzip file" in message
    assert "delete it and run the download again: python -m helpers.data download" in message


def test_tampered_file_is_refused(tiny):
    name = "t10k-labels-idx1-ubyte"
    tampered = bytearray(tiny.raw[name])
    tampered[-1] ^= 1
    put(tiny.cache, {**tiny.gz, name: gzip.compress(bytes(tampered))})
    with pytest.raises(data.DataError, match="wrong content") as err:
        data.load_fashion_mnist()
    assert f"{name}.gz" in str(err.value)
    assert "delete it" in str(err.value)


def test_a_damaged_debian_file_says_reinstall(tiny):
    put(tiny.debian, {**tiny.gz, "train-labels-idx1-ubyte": b"not gzip at all"})
    with pytest.raises(data.DataError, match="apt install --reinstall dataset-fashion-mnist"):
        data.load_fashion_mnist()


# --- nothing there, and downloads --------------------------------------------------------------


def test_offline_with_nothing_cached_fails_fast_and_says_what_to_do(tiny):
    start = time.monotonic()
    with pytest.raises(data.DataError) as err:
        data.load_fashion_mnist()
    assert time.monotonic() - start < 30
    message = str(err.value)
    assert str(tiny.cache) in message
    for name in TINY:
        assert f"{name}.gz" in message
    assert "sudo apt install dataset-fashion-mnist" in message
    assert "Traceback" not in message
    assert err.value.__suppress_context__, "the requests traceback is noise for a student"


def test_offline_with_some_cached_names_only_the_missing(tiny):
    put(tiny.cache, {n: tiny.gz[n] for n in list(TINY)[:2]})
    with pytest.raises(data.DataError) as err:
        data.load_fashion_mnist()
    assert "t10k-images-idx3-ubyte.gz" in str(err.value)
    assert "train-images-idx3-ubyte.gz" not in str(err.value)


def test_downloads_what_is_missing_verified(tiny, server, monkeypatch):
    serve(server, tiny, monkeypatch)
    put(tiny.debian, {"train-images-idx3-ubyte": tiny.gz["train-images-idx3-ubyte"]})
    assert_tiny_loaded(data.load_fashion_mnist())
    assert server.requests == 3
    assert sorted(p.name for p in tiny.cache.iterdir()) == sorted(
        f"{n}.gz" for n in TINY if n != "train-images-idx3-ubyte"
    )


def test_falls_back_to_the_second_mirror(tiny, server, monkeypatch):
    serve(server, tiny, monkeypatch)
    monkeypatch.setattr(data, "MIRRORS", (closed_port_url(), server.url))
    assert_tiny_loaded(data.load_fashion_mnist())


@pytest.mark.parametrize("mode", ["truncate", "wrong bytes"])
def test_an_interrupted_or_wrong_download_leaves_nothing_behind(tiny, server, monkeypatch, mode):
    bad = {n: b"\x1f\x8b not what was published" for n in TINY} if mode == "wrong bytes" else None
    serve(server, tiny, monkeypatch, files=bad)
    server.mode = "truncate" if mode == "truncate" else "ok"
    with pytest.raises(data.DataError, match="could not be downloaded"):
        data.load_fashion_mnist()
    assert list(tiny.cache.iterdir()) == []
    # The next call starts clean and succeeds.
    serve(server, tiny, monkeypatch)
    server.mode = "ok"
    assert_tiny_loaded(data.load_fashion_mnist())


def test_wrong_bytes_are_called_wrong_bytes_not_offline(tiny, server, monkeypatch):
    portal = b"<html>Please log in to the hotel Wi-Fi</html>"
    serve(server, tiny, monkeypatch, files={n: portal for n in TINY})
    with pytest.raises(data.DataError) as error:
        data.load_fashion_mnist()
    message = str(error.value)
    assert "not the published file" in message and "captive portal" in message
    assert "ValueError" not in message


def test_offline_does_not_mention_wrong_bytes(tiny):
    with pytest.raises(data.DataError) as error:
        data.load_fashion_mnist()
    assert "ConnectionError" in str(error.value) and "captive portal" not in str(error.value)


def test_a_silent_server_times_out(tiny, server, monkeypatch):
    serve(server, tiny, monkeypatch)
    server.mode = "hang"
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT", (0.5, 0.5))
    start = time.monotonic()
    with pytest.raises(data.DataError, match="ReadTimeout|ConnectionError"):
        data.load_fashion_mnist()
    assert time.monotonic() - start < 3
    assert list(tiny.cache.iterdir()) == []


def test_connection_wait_is_bounded():
    """With no network, every mirror may wait DOWNLOAD_TIMEOUT[0] seconds before giving up."""
    assert len(data.MIRRORS) * data.DOWNLOAD_TIMEOUT[0] <= 15


# --- files and folders that cannot be used -----------------------------------------------------

# Loads the tiny data in a child process (see conftest's run_unprivileged) and prints the outcome.
LOAD_IN_CHILD = """
import json, sys
from pathlib import Path
from helpers import data
setup = json.loads(sys.argv[1])
data.FILES = {name: tuple(md5s) for name, md5s in setup["files"].items()}
data.MIRRORS, data.DEBIAN_DIR = tuple(setup["mirrors"]), Path(setup["debian"])
try:
    data.load_fashion_mnist()
    print("loaded")
except data.DataError as exc:
    print(f"DataError: {exc}")
"""


def load_in_child(run_unprivileged, tiny) -> str:
    setup = {"files": data.FILES, "mirrors": data.MIRRORS, "debian": str(tiny.debian)}
    child = run_unprivileged(LOAD_IN_CHILD, json.dumps(setup))
    assert child.returncode == 0, child.stderr
    return child.stdout.strip()


def umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_downloaded_files_are_as_readable_as_any_new_file(tiny, server, monkeypatch):
    serve(server, tiny, monkeypatch)
    data.load_fashion_mnist()
    for path in tiny.cache.iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask(), path  # a class shares them


def test_an_unreadable_file_says_ask_its_owner_not_delete_it(tiny, run_unprivileged):
    put(tiny.cache, tiny.gz)
    unreadable = tiny.cache / "train-labels-idx1-ubyte.gz"
    unreadable.chmod(0)
    out = load_in_child(run_unprivileged, tiny)
    assert out.startswith("DataError: Cannot read") and str(unreadable) in out
    assert "Ask its owner" in out and "CNN_TUTORIAL_DATA" in out
    assert "delete" not in out


def test_a_read_only_data_folder_says_so(tiny, server, monkeypatch, run_unprivileged):
    serve(server, tiny, monkeypatch)
    tiny.cache.mkdir(parents=True)
    tiny.cache.chmod(0o555)
    out = load_in_child(run_unprivileged, tiny)
    assert out.startswith("DataError: Cannot save Fashion-MNIST to") and str(tiny.cache) in out
    assert "you may not write there" in out and "CNN_TUTORIAL_DATA" in out
    assert list(tiny.cache.iterdir()) == []


def test_a_data_folder_that_is_a_file_says_so(tiny, server, monkeypatch, tmp_path):
    serve(server, tiny, monkeypatch)
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("CNN_TUTORIAL_DATA", str(tmp_path / "a-file"))
    with pytest.raises(data.DataError, match="a file is in the way") as error:
        data.load_fashion_mnist()
    assert str(tmp_path / "a-file") in str(error.value)


def test_a_folder_where_a_data_file_should_be_says_so(tiny, server, monkeypatch):
    serve(server, tiny, monkeypatch)
    (tiny.cache / "train-images-idx3-ubyte.gz").mkdir(parents=True)
    with pytest.raises(data.DataError, match="a folder is where the file should be") as error:
        data.load_fashion_mnist()
    assert "train-images-idx3-ubyte.gz" in str(error.value)
    assert [p.name for p in tiny.cache.iterdir()] == ["train-images-idx3-ubyte.gz"]


def test_a_full_disk_says_so_and_leaves_nothing(tiny, server, monkeypatch):
    serve(server, tiny, monkeypatch)

    def disk_fills_up(self, url, output_file, pooch):
        Path(output_file).write_bytes(b"the first bytes")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", disk_fills_up)
    with pytest.raises(data.DataError, match="the disk is full"):
        data.load_fashion_mnist()
    assert list(tiny.cache.iterdir()) == []


def a_finished_pid() -> int:
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                             capture_output=True, text=True, check=True)  # fmt: skip
    return int(process.stdout)


def test_killed_downloads_are_cleared_but_not_live_ones(tiny, server, monkeypatch):
    host = socket.gethostname()
    tiny.cache.mkdir(parents=True)
    name = ".train-images-idx3-ubyte.gz.download"
    temporaries = {
        f"{name}-{host}-{a_finished_pid()}": "stale",  # killed: its process is gone
        f"{name}-{host}-{os.getppid()}": "live",  # a download still running on this machine
        f"{name}-other-host-12": "live",  # another machine's, recent: it may still be running
        f"{name}-other-host-13": "stale",  # another machine's, two hours old
    }
    for temporary in temporaries:
        (tiny.cache / temporary).write_bytes(b"x" * 1000)
    two_hours_ago = time.time() - 7200
    os.utime(tiny.cache / f"{name}-other-host-13", (two_hours_ago, two_hours_ago))

    serve(server, tiny, monkeypatch)
    assert_tiny_loaded(data.load_fashion_mnist())
    left = {p.name for p in tiny.cache.iterdir() if p.name.startswith(".")}
    assert left == {t for t, state in temporaries.items() if state == "live"}


def test_a_download_is_written_under_this_machines_and_processs_name(tiny, server, monkeypatch):
    serve(server, tiny, monkeypatch)
    written = []
    real_download = pooch.HTTPDownloader.__call__

    def recorded(self, url, output_file, pooch):
        written.append(Path(output_file).name)
        return real_download(self, url, output_file, pooch)

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", recorded)
    data.load_fashion_mnist()
    suffix = f".download-{socket.gethostname()}-{os.getpid()}"
    assert written == [f".{name}.gz{suffix}" for name in TINY]


# --- the command line --------------------------------------------------------------------------


def test_cli_reports_where_the_data_is(tiny, capsys):
    put(tiny.debian, tiny.gz)
    assert data.main([]) == 0
    assert f"all 4 files verified, in {tiny.debian}" in capsys.readouterr().out


def test_cli_download_fills_the_cache_even_when_debian_has_the_files(
    tiny, server, monkeypatch, capsys
):
    put(tiny.debian, tiny.gz)
    serve(server, tiny, monkeypatch)
    assert data.main(["download"]) == 0
    assert f"in {tiny.cache}" in capsys.readouterr().out
    assert len(list(tiny.cache.iterdir())) == 4


def test_cli_says_one_sentence_when_the_data_folder_is_unusable(tiny, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("CNN_TUTORIAL_DATA", str(tmp_path / "a-file"))
    child = subprocess.run(
        [sys.executable, "-m", "helpers.data", "download"], capture_output=True, text=True
    )
    assert child.returncode == 1
    assert child.stderr.startswith("error: Cannot save Fashion-MNIST to")
    assert child.stderr.count("\n") == 1 and "Traceback" not in child.stderr


def test_cli_errors(tiny, capsys):
    assert data.main(["bogus"]) == 2
    assert "usage" in capsys.readouterr().err
    assert data.main([]) == 1
    assert "sudo apt install dataset-fashion-mnist" in capsys.readouterr().err


# --- the sample photo and the real data ----------------------------------------------------------


def test_sample_image_is_a_grayscale_photo():
    image = data.sample_image()
    assert image.ndim == 2 and image.shape[0] > 100 and image.shape[1] > 100
    assert image.dtype == np.float32
    assert 0.0 <= image.min() < 0.2 and 0.8 < image.max() <= 1.0
    color = data.sample_image(color=True)
    assert color.shape == (*image.shape, 3) and color.dtype == np.float32
    np.testing.assert_allclose(color @ [0.299, 0.587, 0.114], image, atol=1e-5)


def test_real_fashion_mnist():
    """The real files, wherever they are found; CI installs Debian's package, so they must be."""
    if len(data.find_files()) < 4:
        if os.environ.get("CI"):
            pytest.fail("CI must have the real Fashion-MNIST (apt install dataset-fashion-mnist)")
        pytest.skip("the real Fashion-MNIST is not on this machine")
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert len(data.FASHION_MNIST_CLASSES) == 10


def test_prepare_and_split():
    x = np.arange(60 * 28 * 28, dtype=np.int64).reshape(60, 28, 28) % 256
    prepared = data.prepare(x.astype(np.uint8))
    assert prepared.shape == (60, 28, 28, 1)
    assert prepared.dtype == np.float32
    assert prepared.min() == 0.0 and prepared.max() == 1.0
    (x_tr, y_tr), (x_val, y_val) = data.split_validation(np.arange(60_000), np.arange(60_000))
    assert len(x_tr) == 55_000 and len(x_val) == data.VALIDATION_SIZE == 5_000
    np.testing.assert_array_equal(y_val, np.arange(55_000, 60_000))  # the last 5,000, in order
