"""Fashion-MNIST, found, verified and loaded; and a sample photo.

The four Fashion-MNIST files are looked for, in order:

1. `data_dir()/fashion-mnist/` (`$CNN_TUTORIAL_DATA`, else the repository's `data/`);
2. Debian's and Ubuntu's package `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist/`),
   read in place;
3. otherwise they are downloaded into `data_dir()/fashion-mnist/` with a progress bar.

Every file is verified before use: the MD5 of its *decompressed* content must equal the published
MD5 of the raw IDX file (Debian recompressed the `.gz` files, so only the content can be compared).

`prepare(x)` and `split_validation(x, y)` turn it into what every model of the series trains on.

From a shell: `python -m helpers.data` finds (or downloads) and verifies the data and says where
it is; `python -m helpers.data download` fetches any missing files into `data_dir()`, for a class
that prepares offline.
"""

import errno
import gzip
import hashlib
import os
import re
import socket
import sys
import time
import zlib
from pathlib import Path

import numpy as np

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

SUBDIR = "fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"

# Upstream name -> (MD5 of the decompressed IDX file, MD5 of the upstream .gz file).
FILES = {
    "train-images-idx3-ubyte": (
        "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    ),
    "train-labels-idx1-ubyte": (
        "9018921c3c673c538a1fc5bad174d6f9",
        "25c81989df183df01b3e8a0aad5dffbe",
    ),
    "t10k-images-idx3-ubyte": (
        "8181f5470baa50b63fa0f6fddb340f0a",
        "bef4ecab320f06d8554ea6380940ec79",
    ),
    "t10k-labels-idx1-ubyte": (
        "15d484375f8d13e6eb1aabb0c3f46965",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ),
}

# The mirrors Keras's own loader uses, then Zalando's.
MIRRORS = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
# Seconds to wait for a connection, then between two pieces of a download.
DOWNLOAD_TIMEOUT = (5, 30)


# The last 5,000 of the 60,000 training images are held out to watch for overfitting while
# training; the models learn from the first 55,000. The test set is used once, at the end.
VALIDATION_SIZE = 5_000


class DataError(RuntimeError):
    """Fashion-MNIST is missing, incomplete or corrupt; the message says how to fix it."""


def data_dir() -> Path:
    """The download cache: `$CNN_TUTORIAL_DATA` if set, else the repository's `data/`."""
    env = os.environ.get("CNN_TUTORIAL_DATA")
    return Path(env).expanduser() if env else Path(__file__).resolve().parent.parent / "data"


def _cache_folder() -> Path:
    return data_dir() / SUBDIR


def find_files() -> dict[str, Path]:
    """The four `.gz` files that exist, by upstream name; the cache wins over Debian's copy."""
    found = {}
    for name in FILES:
        for folder in (_cache_folder(), DEBIAN_DIR):
            path = folder / f"{name}.gz"
            if path.is_file():
                found[name] = path
                break
    return found


def _fix_for(path: Path) -> str:
    if path.parent == DEBIAN_DIR:
        return f"reinstall the package: sudo apt install --reinstall {DEBIAN_PACKAGE}"
    return "delete it and run the download again: python -m helpers.data download"


def read_idx(path: Path, name: str) -> np.ndarray:
    """Decompress, verify and parse one IDX file: images `(N, 28, 28)` or labels `(N,)`, uint8."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except PermissionError:
        raise DataError(
            f"Cannot read {path}: you are not allowed to (its permissions). Ask its owner to "
            f"make it readable (chmod a+r), or point CNN_TUTORIAL_DATA elsewhere."
        ) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path} is not a complete gzip file ({exc}). To fix it, {_fix_for(path)}"
        ) from None
    if hashlib.md5(raw).hexdigest() != FILES[name][0]:
        raise DataError(
            f"{path} has the wrong content (its MD5 does not match the published one, "
            f"{FILES[name][0]}): it is damaged or is not {name}. To fix it, {_fix_for(path)}"
        )
    # The IDX header: a magic number whose last byte is the number of dimensions, then the sizes.
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    # A copy: frombuffer's view of the bytes is read-only, and Keras's arrays are writable.
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


WRONG_BYTES = "received bytes that are not the published file (their hash differs)"
WRONG_BYTES_MEANS = (
    "Wrong bytes usually mean that a Wi-Fi login page (captive portal) or a proxy answered instead "
    "of the server: log in to the network, or use another one, and try again.\n"
)


def _missing_message(missing: list[str], reason: str) -> str:
    names = "\n".join(f"    {name}.gz" for name in missing)
    return (
        f"Fashion-MNIST could not be downloaded ({reason}).\n"
        f"{WRONG_BYTES_MEANS if WRONG_BYTES in reason else ''}"
        f"Put these files in {_cache_folder()}:\n{names}\n"
        f"or, on Debian or Ubuntu, install them for every user with:\n"
        f"    sudo apt install {DEBIAN_PACKAGE}\n"
        f"or set CNN_TUTORIAL_DATA to a folder that holds {SUBDIR}/ with them."
    )


def _cannot_write(exc: OSError, path: Path) -> DataError:
    """What a failed write to `path` means for the reader, and how to fix it."""
    elsewhere = "or point CNN_TUTORIAL_DATA at a folder you can write to"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = (
            f"you may not write there ({exc.strerror}): ask its owner to add the files, {elsewhere}"
        )
    elif exc.errno == errno.ENOTDIR:
        why = f"a file is in the way of a folder on that path: move it, {elsewhere}"
    elif exc.errno == errno.EISDIR:
        why = "a folder is where the file should be: remove that folder and try again"
    elif exc.errno == errno.ENOSPC:
        why = f"the disk is full: free about 30 MB, {elsewhere} on another disk"
    else:
        why = f"{exc.strerror or exc}: {elsewhere}"
    return DataError(f"Cannot save Fashion-MNIST to {path}: {why}.")


# A download in progress is written to `.NAME.download-HOST-PID`, renamed once verified.
TEMPORARY = re.compile(r"\.(?P<name>.+)\.download-(?P<host>.+)-(?P<pid>\d+)")
STALE_AFTER = 3600  # seconds after which anyone's unfinished download is abandoned


def _temporary_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.download-{socket.gethostname()}-{os.getpid()}")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete what killed downloads left in `folder`: the temporaries of this machine's finished
    processes, and anyone's over `STALE_AFTER` seconds old. Returns the paths deleted."""
    removed = []
    for path in folder.glob(".*.download-*"):
        match = TEMPORARY.fullmatch(path.name)
        if match is None:
            continue
        try:
            old = time.time() - path.stat().st_mtime > STALE_AFTER
            mine = match["host"] == socket.gethostname()
            if old or (mine and not _running(int(match["pid"]))):
                path.unlink()
                removed.append(path)
        except OSError:  # gone already, or not ours to delete: its owner's next run will
            continue
    return removed


def download(names=None) -> dict[str, Path]:
    """Download the named files (default: all four) into `data_dir()`, verified as they arrive.

    A file is written under a temporary name (with this machine's name and process id) and
    renamed only once complete and verified, with the permissions of any new file; an
    interrupted download leaves nothing behind, and one killed outright is cleared by the next
    run. Returns `{name: path}`.
    """
    import pooch  # imported here: loading the data offline does not need it
    import requests

    names = list(FILES) if names is None else list(names)
    folder = _cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(exc, folder) from None
    remove_stale_temporaries(folder)
    downloader = pooch.HTTPDownloader(progressbar=True, timeout=DOWNLOAD_TIMEOUT)
    paths = {}
    for name in names:
        target = folder / f"{name}.gz"
        temporary = _temporary_path(target)
        reasons = []
        for mirror in MIRRORS:
            try:
                downloader(mirror + target.name, str(temporary), None)
                if pooch.file_hash(str(temporary), alg="md5") == FILES[name][1]:
                    os.replace(temporary, target)
                    paths[name] = target
                    break
                reasons.append(f"{mirror}: {WRONG_BYTES}")
            except requests.RequestException as exc:  # before OSError, which it subclasses
                reasons.append(f"{mirror}: {type(exc).__name__}")
            except OSError as exc:
                raise _cannot_write(exc, target) from None
            finally:
                temporary.unlink(missing_ok=True)
        else:
            raise DataError(_missing_message(names[len(paths) :], "; ".join(reasons))) from None
    return paths


def ensure_files() -> dict[str, Path]:
    """Find the four files, downloading whichever is missing. Returns `{name: path}`."""
    found = find_files()
    missing = [name for name in FILES if name not in found]
    if missing:
        found.update(download(missing))
    return found


def load_fashion_mnist():
    """Fashion-MNIST as `keras.datasets.fashion_mnist.load_data()` returns it.

    Returns `(x_train, y_train), (x_test, y_test)`: uint8 arrays of shapes `(60000, 28, 28)`,
    `(60000,)`, `(10000, 28, 28)` and `(10000,)`; labels index `FASHION_MNIST_CLASSES`.
    """
    paths = ensure_files()
    arrays = {name: read_idx(path, name) for name, path in paths.items()}
    return (
        (arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]),
        (arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]),
    )


def prepare(x: np.ndarray) -> np.ndarray:
    """uint8 images `(N, 28, 28)` in 0..255 -> float32 `(N, 28, 28, 1)` in [0, 1]."""
    return (np.asarray(x, dtype=np.float32) / 255.0)[..., np.newaxis]


def split_validation(x_train: np.ndarray, y_train: np.ndarray):
    """Hold out the last `VALIDATION_SIZE` training images.

    `x_train` `(60000, ...)`, `y_train` `(60000,)` -> `(x_tr, y_tr), (x_val, y_val)`, the first
    55,000 and the last 5,000, in order. Fashion-MNIST's training set comes shuffled: its last
    5,000 images hold between 450 and 527 of each class.
    """
    n = len(x_train) - VALIDATION_SIZE
    return (x_train[:n], y_train[:n]), (x_train[n:], y_train[n:])


def sample_image(color=False) -> np.ndarray:
    """A photo that ships with matplotlib (Grace Hopper), float32 in [0, 1].

    Grayscale `(H, W)` by default; `color=True` gives the red, green and blue channels `(H, W, 3)`.
    """
    import matplotlib.cbook
    import matplotlib.image

    rgb = matplotlib.image.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg"))
    rgb = rgb[..., :3].astype(np.float32) / 255.0
    return rgb if color else rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def main(argv=None) -> int:
    """`python -m helpers.data [download]`: make sure the data is there, verified."""
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["download"]):
        print("usage: python -m helpers.data [download]", file=sys.stderr)
        return 2
    try:
        if argv == ["download"]:
            cached = {n: p for n, p in find_files().items() if p.parent == _cache_folder()}
            paths = {**cached, **download([n for n in FILES if n not in cached])}
        else:
            paths = ensure_files()
        for name, path in paths.items():
            read_idx(path, name)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    folders = sorted({str(path.parent) for path in paths.values()})
    print(f"Fashion-MNIST: all 4 files verified, in {', '.join(folders)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
