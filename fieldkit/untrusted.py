"""Input from outside (a page, a laptop, a file), read with bounds: JSON with its nesting bounded (deep
nesting is refused with ValueError before the parser could recurse itself to death), and ZIP members
inflated as streams that stop at a byte limit and at an implausible compression ratio (TooLarge)."""
import json
import zipfile

MAX_DEPTH = 64  # nesting no fieldkit document needs more of


def loads(data, max_depth: int = MAX_DEPTH):
    """Parse JSON text or bytes; ValueError for malformed or too deeply nested input."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if depth(raw) > max_depth:
        raise ValueError("nested too deeply")
    try:
        return json.loads(raw)
    except (RecursionError, UnicodeDecodeError) as error:
        raise ValueError(str(error)[:120]) from error


def depth(data: bytes) -> int:
    """How deep brackets nest, counted on the bytes (brackets inside strings count too, which only errs
    on the safe side)."""
    level = deepest = 0
    for byte in data.translate(None, delete=_NOT_BRACKETS):
        level += 1 if byte in b"[{" else -1
        deepest = max(deepest, level)
    return deepest


_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


MAX_RATIO = 200  # uncompressed : compressed, beyond the first RATIO_GRACE bytes of a member
RATIO_GRACE = 1024 * 1024


class TooLarge(Exception):
    """A ZIP member that would unpack beyond its limit (`by_ratio` False) or far beyond what real files
    compress to (`by_ratio` True): a zip bomb, not a document."""

    def __init__(self, name: str, by_ratio: bool):
        super().__init__(name)
        self.by_ratio = by_ratio


def inflate(zipped: zipfile.ZipFile, name: str, limit: int, inspect=None) -> bytes:
    """A member decompressed as a stream, never more than `limit` bytes and never far beyond what a real
    file compresses to: the size the archive declares is not trusted. `inspect` sees each chunk as it
    comes and may raise to stop early."""
    chunks = []
    for chunk in _chunks(zipped, zipped.getinfo(name), limit):
        if inspect:
            inspect(chunk)
        chunks.append(chunk)
    return b"".join(chunks)


def check_archive(zipped: zipfile.ZipFile, limit: int) -> None:
    """Inflate every member as a stream and forget it, so that a library that trusts declared sizes
    (openpyxl) only ever meets an archive that unpacks to at most `limit` bytes in all."""
    for info in zipped.infolist():
        for chunk in _chunks(zipped, info, limit):
            limit -= len(chunk)


def _chunks(zipped: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int):
    total = 0
    with zipped.open(info) as stream:
        while chunk := stream.read(64 * 1024):
            total += len(chunk)
            if total > limit:
                raise TooLarge(info.filename, by_ratio=False)
            if total > RATIO_GRACE and total > MAX_RATIO * max(info.compress_size, 1):
                raise TooLarge(info.filename, by_ratio=True)
            yield chunk
