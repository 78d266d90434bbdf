"""File integrity and the one download layer every adapter uses (built on `pooch`).

An adapter describes what it needs as `RemoteFile`s (`Adapter.remote_files()`): where the file goes
under the data dir, where it comes from (a `Location`: a source and a URL path under that source's
base URL, official first, then known fallbacks), its checksum and size where known, and how an
archive is unpacked (`Extract`). `stage` brings one file into place:

- download with HTTP Range resume into `<dest>.part` (a dropped connection resumes from the bytes
  already received, within one run and across runs), retries with back-off, a progress bar;
- verify the checksum with `pooch` before the file appears (a mismatch deletes the partial file and
  raises one DataError); files without a published checksum are checked by their readers;
- unpack an archive into a temp dir, check its members (published member hashes or the archive's
  own checksum list), then rename the result into place.

Every source's base URL can be overridden with `SSLBENCH_MIRROR_<SOURCE>` (e.g.
`SSLBENCH_MIRROR_PHYSIONET=http://mirror.example/physionet/`): the URL path under the base stays the
official one. Downloads go only to the official sources (or the mirror named by that variable).
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import hashlib
import logging
import os
import re
import shutil
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmark.core.errors import DataError

# Official base URL of every source files come from; `SSLBENCH_MIRROR_<NAME>` overrides one.
SOURCES = {
    "physionet": "https://physionet.org/",
    "uci": "https://archive.ics.uci.edu/",
    "zenodo": "https://zenodo.org/",
    "tensorflow": "http://download.tensorflow.org/",
    # download.tensorflow.org is served from this bucket; the https copy is the fallback
    "tensorflow_gcs": "https://storage.googleapis.com/download.tensorflow.org/",
    "github": "https://github.com/",
    "ucr": "https://www.timeseriesclassification.com/",
    "tu": "https://www.chrsmrrs.com/",
    "figshare": "https://ndownloader.figshare.com/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "toronto": "https://www.cs.toronto.edu/",
}
# The paths under each source that downloads may come from (GitHub: only these repositories).
ALLOWED_PATHS = {
    "physionet": ("files/", "static/published-projects/"),
    "uci": ("static/public/",),
    "zenodo": ("records/",),
    "tensorflow": ("data/",),
    "tensorflow_gcs": ("data/",),
    "github": (
        "Jakobovski/free-spoken-digit-dataset/",
        "karolpiczak/ESC-50/",
        "kimiyoung/planetoid/",
        "zalandoresearch/fashion-mnist/",
    ),
    "ucr": ("aeon-toolkit/",),
    "tu": ("graphkerneldatasets/",),
    "figshare": ("files/",),
    "fashion_mnist": ("",),
    "toronto": ("~kriz/",),
}
MIRROR_ENV = "SSLBENCH_MIRROR_{}"


def mirror_var(source: str) -> str:
    return MIRROR_ENV.format(source.upper())


def base_url(source: str) -> str:
    """The source's base URL: `SSLBENCH_MIRROR_<SOURCE>` when set, else the official one."""
    if source not in SOURCES:
        raise KeyError(f"unknown download source {source!r}; known: {sorted(SOURCES)}")
    base = os.environ.get(mirror_var(source)) or SOURCES[source]
    return base if base.endswith("/") else base + "/"


def source_url(source: str, path: str) -> str:
    return base_url(source) + path


def file_digest(path: Path, algo: str = "md5", decompress: bool = False) -> str:
    h = hashlib.new(algo)
    opener = gzip.open if decompress else open
    try:
        with opener(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(
            f"{path}: cannot read ({e}); expected a complete"
            f"{' gzip' if decompress else ''} file, "
            f"this one is truncated or corrupt — "
            f"delete it and download it again"
        ) from e
    return h.hexdigest()


def allowed_prefixes() -> list[str]:
    return [base_url(s) + p for s, paths in ALLOWED_PATHS.items() for p in paths]


def check_official_url(url: str) -> str:
    """Refuse any URL that is not under a known official source (or its configured mirror)."""
    prefixes = allowed_prefixes()
    if not isinstance(url, str) or ".." in url or not url.startswith(tuple(prefixes)):
        raise DataError(
            f"refusing to download {url!r}: not one of the official dataset sources "
            f"({', '.join(prefixes)}); put the file in the data dir by hand"
        )
    return url


# ---- what an adapter needs --------------------------------------------------------------------
@dataclass(frozen=True)
class Location:
    """One place a file can be fetched from: `path` under the source's base URL. With `member`, the
    URL is an archive and the file is that member of it (checked with `member_hash` when known)."""

    source: str
    path: str
    member: str | None = None
    member_hash: str | None = None

    def url(self) -> str:
        return source_url(self.source, self.path)


@dataclass(frozen=True)
class Extract:
    """How an archive is unpacked. Members under the folder `strip` (empty: the archive root; "*": its
    one top-level folder, whatever its name) go into `into` (relative to the data dir) with `strip`
    removed; with `members`, only those (paths below `strip`, or base names anywhere when `flatten`).
    `member_hashes` ({member: "md5:…"}), `sums_file` (a SHA256SUMS.txt-style list inside the archive,
    below `strip`) and `sums_from` (such a list in the data dir) check the members.
    `provides` are the files (relative to `into`) whose presence means the archive is unpacked."""

    into: str
    strip: str = ""
    members: tuple[str, ...] | None = None
    flatten: bool = False
    member_hashes: dict[str, str] = field(default_factory=dict)
    sums_file: str | None = None
    sums_from: str | None = None  # a checksum list in the data dir (staged before) covering the members
    provides: tuple[str, ...] = ()
    keep_archive: bool = False


@dataclass(frozen=True)
class RemoteFile:
    """One file a dataset needs. `path` is relative to the data dir; `hash` is "md5:…"/"sha256:…" or
    None when nothing is published (the reader then checks counts and shapes); `hash_list` names a
    published checksum list (relative to the data dir, staged before this file) to take it from;
    `size` is in bytes when known."""

    path: str
    locations: tuple[Location, ...]
    hash: str | None = None
    size: int | None = None
    extract: Extract | None = None
    hash_list: str | None = None
    note: str = ""

    @property
    def url(self) -> str:
        return self.locations[0].url()

    def urls(self) -> list[str]:
        return [loc.url() for loc in self.locations]

    def staged(self, data_dir: Path) -> bool:
        """In place: the file itself, or for an archive everything it provides."""
        if self.extract is None:
            return (Path(data_dir) / self.path).is_file()
        into = Path(data_dir) / self.extract.into
        if self.extract.provides:
            return all((into / p).exists() for p in self.extract.provides)
        return into.is_dir() and any(into.iterdir())


def announced_sizes(files: list[RemoteFile], timeout: float = 10.0, workers: int = 8) -> tuple[dict, dict]:
    """The sizes the hosts announce (HTTP HEAD, redirects followed, `Content-Length`) for files with
    no recorded size: ({path: bytes}, {host: why it did not answer}). Locations that are archive
    members are skipped (the archive's size is not the file's); a host that cannot be reached is not
    asked again, so an offline machine answers at once."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    import requests

    dead: dict[str, str] = {}

    def ask(rf: RemoteFile) -> tuple[str, int | None]:
        for loc in rf.locations:
            if loc.member is not None:
                continue
            url = loc.url()
            host = urlsplit(url).netloc
            if host in dead:
                continue
            try:
                r = requests.head(url, allow_redirects=True, timeout=timeout)
            except requests.RequestException as e:
                dead[host] = type(e).__name__
                continue
            n = r.headers.get("Content-Length", "")
            if r.ok and n.isdigit() and int(n) > 0:
                return rf.path, int(n)
        return rf.path, None

    todo = [rf for rf in files if rf.size is None]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo)))) as pool:
        sizes = {path: n for path, n in pool.map(ask, todo) if n is not None}
    return sizes, dead


def remote(path: str, source: str, url_path: str, hash: str | None = None, size: int | None = None, **kw):
    """A RemoteFile with one official location (fallbacks: `fallbacks=(Location(...), ...)`)."""
    fallbacks = tuple(kw.pop("fallbacks", ()))
    return RemoteFile(path, (Location(source, url_path), *fallbacks), hash, size, **kw)


# ---- downloading ------------------------------------------------------------------------------
def _retries() -> int:
    return int(os.environ.get("SSLBENCH_DOWNLOAD_RETRIES", "4"))


def _backoff() -> float:
    return float(os.environ.get("SSLBENCH_DOWNLOAD_BACKOFF", "2"))


def _timeout() -> float:
    return float(os.environ.get("SSLBENCH_DOWNLOAD_TIMEOUT", "60"))


class ResumableDownloader:
    """A pooch downloader that keeps what it received in `part` and asks for the rest with an HTTP
    Range request after a dropped connection (up to `retries` times, with back-off), so neither a
    flaky link nor an interrupted run starts a large file over. A 4xx answer is not retried."""

    def __init__(self, part: Path, progress: bool = True, label: str = ""):
        self.part = Path(part)
        self.progress = progress
        self.label = label or self.part.name.removesuffix(".part")

    def __call__(self, url: str, output_file, pooch=None, check_only: bool = False):
        import requests
        from tqdm.auto import tqdm

        last: Exception | None = None
        for attempt in range(_retries() + 1):
            if attempt:
                time.sleep(_backoff() * 2 ** (attempt - 1))
            have = self.part.stat().st_size if self.part.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            answered = False
            try:
                with requests.get(url, headers=headers, stream=True, timeout=_timeout()) as r:
                    answered = True
                    if r.status_code == 416 and have:  # nothing left to send: the part is complete
                        break
                    r.raise_for_status()
                    resumed = have and r.status_code == 206
                    total = int(r.headers.get("Content-Length", 0)) or None
                    if total is not None and resumed:
                        total += have
                    with (
                        open(self.part, "ab" if resumed else "wb") as out,
                        tqdm(
                            total=total,
                            initial=have if resumed else 0,
                            unit="B",
                            unit_scale=True,
                            desc=self.label,
                            disable=None if self.progress else True,
                            leave=False,
                        ) as bar,
                    ):
                        for chunk in r.iter_content(1 << 16):  # small: a drop loses < 64 KiB
                            out.write(chunk)
                            bar.update(len(chunk))
                break
            except requests.HTTPError as e:
                code = e.response.status_code if e.response is not None else 0
                if 400 <= code < 500 and code not in (408, 429):
                    raise
                last = e
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as e:
                if not answered and not isinstance(e, requests.ReadTimeout):
                    raise  # no route, no DNS, refused: offline, not flaky — the next location is tried
                last = e  # the bytes received stay in `part`; the next attempt asks for the rest
        else:
            raise last if last is not None else OSError(f"{url}: download failed")
        os.replace(self.part, output_file)


def _quiet_pooch():
    import pooch

    pooch.get_logger().setLevel(logging.WARNING)  # we report what was fetched ourselves
    return pooch


def _one_line_error(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _download(url: str, dest: Path, known_hash: str | None, progress: bool) -> Path:
    """`url` to `dest` through pooch (hash checked before the file appears; a partial download that
    fails its hash is deleted). Raises DataError on a checksum mismatch."""
    pooch = _quiet_pooch()
    check_official_url(url)
    part = dest.with_name(dest.name + ".part")
    try:
        pooch.retrieve(
            url,
            known_hash=known_hash,
            fname=dest.name,
            path=dest.parent,
            downloader=ResumableDownloader(part, progress),
        )
    except ValueError as e:  # pooch's hash mismatch: its temporary file (our part) is already gone
        part.unlink(missing_ok=True)
        got = re.search(r"but got (\w+)", str(e))
        raise DataError(
            f"{url}: checksum mismatch for {dest.name} (expected {known_hash}"
            f"{', got ' + got.group(1) if got else ''}); the partial download was deleted — the "
            f"server's file is not the official one (or was altered in transit); try again later"
        ) from None
    return dest


def _fetch_member(loc: Location, dest: Path, progress: bool) -> Path:
    """A fallback that ships the file inside an archive: download it, take the member out."""
    arch = dest.with_name(dest.name + ".archive-" + Path(loc.path).name)
    _download(loc.url(), arch, None, progress)
    try:
        tmp = _extract_members(arch, dest.parent, Extract(into="", members=(loc.member,), flatten=True))
        try:
            got = tmp / Path(loc.member).name
            if not got.is_file():
                raise DataError(f"{loc.url()}: no {loc.member} inside the archive")
            _verify(got, loc.member_hash, f"{loc.url()} member {loc.member}")
            os.replace(got, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        arch.unlink(missing_ok=True)
    return dest


def _verify(path: Path, known_hash: str | None, what: str, delete: bool = True) -> None:
    """Raise one DataError on a mismatch; a file just downloaded or unpacked is deleted then (a file
    that was already there is left for the user to look at)."""
    if known_hash is None:
        return
    algo, _, want = known_hash.rpartition(":")
    got = file_digest(path, algo or "sha256")
    if got != want.lower():
        if delete:
            path.unlink(missing_ok=True)
        raise DataError(
            f"{what}: checksum mismatch (expected {known_hash}, got {algo or 'sha256'}:{got}); "
            + ("the file was deleted — download it again" if delete else "delete it and fetch it again")
            + " or get the official file"
        )


def _safe_name(name: str) -> bool:
    p = Path(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts


def _top_folder(names: list[str]) -> str:
    tops = {n.replace("\\", "/").lstrip("/").split("/", 1)[0] for n in names if n.strip("/")}
    return tops.pop() if len(tops) == 1 else ""


def _selected(name: str, ex: Extract, strip: str) -> str | None:
    """The path (relative to `into`) a member goes to, or None when it is not wanted."""
    name = name.replace("\\", "/")
    if not _safe_name(name):
        return None
    if ex.flatten:
        base = name.rsplit("/", 1)[-1]
        return base if base and (ex.members is None or base in ex.members) else None
    strip = strip.strip("/")
    if strip:
        if not name.startswith(strip + "/"):
            return None
        name = name[len(strip) + 1 :]
    if not name or name.endswith("/"):
        return None
    if ex.members is not None and name not in ex.members:
        return None
    return name


def _extract_members(arch: Path, parent: Path, ex: Extract) -> Path:
    """Unpack the wanted members of `arch` into a fresh temp dir under `parent` (returned)."""
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=".extract-"))
    try:
        if zipfile.is_zipfile(arch):
            with zipfile.ZipFile(arch) as z:
                strip = _top_folder(z.namelist()) if ex.strip == "*" else ex.strip
                for info in z.infolist():
                    rel = None if info.is_dir() else _selected(info.filename, ex, strip)
                    if rel is None:
                        continue
                    out = tmp / rel
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with z.open(info) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        else:
            strip = ex.strip
            if strip == "*":
                with tarfile.open(arch) as t:
                    strip = _top_folder(t.getnames())
            with tarfile.open(arch) as t:

                def wanted():  # in stream order: a .tar.gz is read once, never seeked backwards
                    for m in t:
                        rel = _selected(m.name, ex, strip) if m.isfile() else None
                        if rel is not None:
                            m = copy.copy(m)
                            m.name = rel
                            yield m

                t.extractall(tmp, members=wanted(), filter="data")  # no links or paths outside tmp
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, zipfile.LargeZipFile) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(
            f"{arch}: cannot unpack ({e}); the archive is truncated or corrupt — delete it"
        ) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _check_members(tmp: Path, ex: Extract, arch: Path, data_dir: Path) -> None:
    for rel, h in ex.member_hashes.items():
        if not (tmp / rel).is_file():
            raise DataError(f"{arch}: no member {rel}; expected the official archive")
        _verify(tmp / rel, h, f"{arch} member {rel}")
    if ex.sums_file:
        sums = tmp / ex.sums_file
        if not sums.is_file():
            raise DataError(f"{arch}: no {ex.sums_file} inside; expected the official release archive")
        for rel, digest in read_sums(sums).items():
            if (tmp / rel).is_file():
                _verify(tmp / rel, f"sha256:{digest}", f"{arch} member {rel} (listed in {ex.sums_file})")
    if ex.sums_from:
        sums = read_sums(Path(data_dir) / ex.sums_from)
        if not sums:
            raise DataError(
                f"{Path(data_dir) / ex.sums_from}: empty checksum list; delete it and fetch again"
            )
        for f in (p for p in tmp.rglob("*") if p.is_file()):
            rel = f.relative_to(tmp).as_posix()
            if rel in sums:
                _verify(f, f"sha256:{sums[rel]}", f"{arch} member {rel} (listed in {ex.sums_from})")


def unpack(arch: Path, data_dir: Path, ex: Extract) -> Path:
    """Unpack `arch` as `ex` says: members checked in a temp dir, then moved into place (a rename
    when `into` does not exist yet). The archive is deleted afterwards unless `keep_archive`."""
    into = Path(data_dir) / ex.into
    tmp = _extract_members(arch, into.parent, ex)
    try:
        if not any(tmp.iterdir()):
            raise DataError(
                f"{arch}: none of the expected members ({', '.join(ex.members or (ex.strip or '*',))}) "
                f"inside; expected the official archive"
            )
        _check_members(tmp, ex, arch, data_dir)
        missing = [p for p in ex.provides if not (tmp / p).exists()]
        if missing:
            raise DataError(f"{arch}: {missing} not inside; expected the official archive")
        if not into.exists():
            os.replace(tmp, into)
        else:
            for f in sorted(p for p in tmp.rglob("*") if p.is_file()):
                target = into / f.relative_to(tmp)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(f, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not ex.keep_archive:
        arch.unlink(missing_ok=True)
    return into


def read_sums(path: Path) -> dict[str, str]:
    """A `sha256sum`-style list ("<hex>  <relative path>" per line) as {path: hex}."""
    out = {}
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the checksum list ({e}); delete it and fetch again") from e
    for ln in lines:
        parts = ln.split(maxsplit=1)
        if len(parts) == 2 and re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            out[parts[1].strip().lstrip("*")] = parts[0].lower()
    return out


def with_listed_hash(rf: RemoteFile, data_dir: Path) -> RemoteFile:
    """`rf` with its hash taken from its (already staged) published checksum list."""
    if rf.hash is not None or rf.hash_list is None:
        return rf
    lst = Path(data_dir) / rf.hash_list
    sums = read_sums(lst) if lst.is_file() else {}
    rel = Path(rf.path).relative_to(Path(rf.hash_list).parent).as_posix()
    return replace(rf, hash=f"sha256:{sums[rel]}") if rel in sums else rf


def stage(rf: RemoteFile, data_dir: Path, progress: bool = True, log=None) -> Path:
    """Bring `rf` into place under `data_dir`: skip it when staged (a present plain file with a
    known hash is verified), else download it (official location first, then fallbacks), verify it
    and unpack it. Every location's failure is named in one DataError. Folders created for a
    download that fails are removed again (a partial `.part` file, kept for resuming, keeps its)."""
    data_dir = Path(data_dir)
    rf = with_listed_hash(rf, data_dir)
    dest = data_dir / rf.path
    if rf.staged(data_dir):
        if rf.extract is None and rf.hash is not None:
            _verify(dest, rf.hash, str(dest), delete=False)
        return dest
    new = created_dirs(dest.parent)
    try:
        if not dest.is_file() or (rf.hash is not None and not _matches(dest, rf.hash)):
            errors = []
            for loc in rf.locations:
                try:
                    if loc.member:
                        _fetch_member(loc, dest, progress)
                    else:
                        _download(loc.url(), dest, rf.hash, progress)
                    break
                except DataError as e:
                    errors.append(str(e))
                except Exception as e:  # network and HTTP errors: try the next location
                    errors.append(f"{loc.url()}: {_one_line_error(e)}")
            else:
                raise DataError(
                    f"cannot download {rf.path} into {data_dir}: " + "; ".join(errors) + ". Without "
                    "internet, run `run_benchmark.py fetch` on a machine with internet (e.g. a login "
                    "node) or put the official files in the data dir by hand"
                )
            if rf.hash is None and log is not None:
                log(
                    f"fetched {rf.path} ({dest.stat().st_size} bytes, sha256 "
                    f"{file_digest(dest, 'sha256')}); no published checksum — its content is checked "
                    f"when it is loaded"
                )
        if rf.extract is not None:
            unpack(dest, data_dir, rf.extract)
    except BaseException:
        remove_empty(new)
        raise
    return dest


def _matches(path: Path, known_hash: str) -> bool:
    algo, _, want = known_hash.rpartition(":")
    return file_digest(path, algo or "sha256") == want.lower()


def stage_all(files: list[RemoteFile], data_dir: Path, progress: bool = True, log=None) -> None:
    """Stage every file in order (a checksum list before the files it covers)."""
    for rf in files:
        stage(rf, data_dir, progress, log)


def download(url: str, dest: Path, md5: str | None = None, progress: bool = True) -> Path:
    """Fetch one official `url` to `dest` atomically, verifying `md5` before the file appears."""
    check_official_url(url)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _download(url, dest, f"md5:{md5}" if md5 else None, progress)
    except DataError:
        raise
    except Exception as e:
        raise DataError(
            f"cannot download {url} to {dest}: {_one_line_error(e)}. Without internet, put the "
            f"official files in a data dir and pass --data-dir or set SSLBENCH_DATA_DIR"
        ) from e


# ---- download helpers that leave nothing behind when offline -------------------------------
def created_dirs(path: Path) -> list[Path]:
    """The missing ancestors of `path` (deepest first): what a failed download must remove again,
    so an offline attempt leaves no empty folders in the data dir."""
    out = []
    p = path
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def remove_empty(dirs: list[Path]) -> None:
    for d in dirs:  # deepest first
        try:
            d.rmdir()
        except OSError:
            pass


@contextlib.contextmanager
def offline_hint(msg: str):
    """Re-raise a failed download as a DataError that also says which files are expected, where
    to put them and where to get them."""
    try:
        yield
    except DataError as e:
        raise DataError(f"{msg}. The download failed: {e}") from e
