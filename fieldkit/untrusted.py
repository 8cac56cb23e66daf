"""JSON from outside (a page, a laptop, a file), read with its nesting bounded: deep nesting is refused
with ValueError before the parser could recurse itself to death."""
import json

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
