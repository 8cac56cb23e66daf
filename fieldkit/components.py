"""What fieldkit is made of, for *Über fieldkit*: the Python packages it runs on (its dependencies,
followed through theirs), their versions and licences from their metadata, their licence texts, and
the front-end files vendored into static/."""
import importlib.metadata as metadata
import re
from dataclasses import dataclass
from typing import Optional

VENDORED = [("htmx", "2.0.11", "0BSD / BSD-2-Clause", "htmx.LICENSE")]  # (name, version, licence, file in static/)


@dataclass
class Component:
    name: str
    version: str
    licence: str
    has_text: bool


def python_packages(root: str = "fieldkit", extras: tuple = ("desktop",)) -> list[Component]:
    """fieldkit's dependencies and theirs, as installed, with the extras asked for (the desktop window's)."""
    seen, waiting, found = set(), [(root, set(extras))], []
    while waiting:
        name, wanted = waiting.pop()
        name = _normal(name)
        if (name, frozenset(wanted)) in seen:
            continue
        seen.add((name, frozenset(wanted)))
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if name != _normal(root) and all(_normal(c.name) != name for c in found):
            found.append(Component(distribution.metadata["Name"], distribution.version, licence_of(distribution),
                                   licence_text(name) is not None))
        for requirement in distribution.requires or []:
            marker = requirement.partition(";")[2]
            needs = set(re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker))
            if needs and not needs & wanted:
                continue
            head = re.match(r"([A-Za-z0-9._-]+)(?:\[([^\]]*)\])?", requirement)
            waiting.append((head.group(1), {extra.strip() for extra in (head.group(2) or "").split(",") if extra.strip()}))
    return sorted(found, key=lambda component: component.name.casefold())


def licence_of(distribution) -> str:
    meta = distribution.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return ", ".join(dict.fromkeys(classifiers))
    text = (meta.get("License") or "").strip()
    return text.splitlines()[0][:80] if text else "–"


def licence_text(name: str) -> Optional[str]:
    """The licence file a package ships, if any."""
    try:
        files = metadata.distribution(name).files or []
    except metadata.PackageNotFoundError:
        return None
    for path in files:
        if re.search(r"(LICEN[CS]E|COPYING|NOTICE)", path.name, re.IGNORECASE) and path.suffix in ("", ".txt", ".md", ".rst"):
            try:
                return path.locate().read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
    return None


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
