#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes the .deb's copyright file: packaging/copyright.in with every Rust crate compiled
into /usr/bin/playhead listed in its header (version, licence and authors, from `cargo
metadata`), then the licence files of the crates whose licence is neither MIT nor Apache-2.0
(whose texts copyright.in already carries), since those licences ask for their notice to
travel with the binary.

    python3 packaging/copyright.py OUTPUT
"""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def crates_in_binary():
    """The packages reachable from playhead through normal (not build or dev) dependencies."""
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked",
             "--filter-platform", "x86_64-unknown-linux-gnu"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = next(p["id"] for p in meta["packages"] if p["name"] == "playhead")
    seen, todo = set(), [root]
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        for dep in nodes[pkg]["deps"]:
            if any(kind["kind"] is None for kind in dep["dep_kinds"]):
                todo.append(dep["pkg"])
    seen.discard(root)
    return sorted((packages[p] for p in seen), key=lambda p: (p["name"], p["version"]))


def covered_by_header(licence):
    """True when one choice in the SPDX expression is MIT or Apache-2.0 and nothing is ANDed."""
    if " AND " in licence:
        return False
    choices = licence.replace("/", " OR ").replace("(", "").replace(")", "").split(" OR ")
    return any(c.strip() in ("MIT", "Apache-2.0") for c in choices)


def paragraph_lines(text):
    """Text as the indented continuation lines of a deb822 field."""
    out = []
    for line in text.rstrip().splitlines():
        out.append(" " + line if line.strip() else " .")
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: copyright.py OUTPUT")
    crates = crates_in_binary()
    listing = []
    for c in crates:
        authors = ", ".join(c.get("authors") or []) or "see the crate"
        listing.append(f" {c['name']} {c['version']}: {c['license'] or 'see the crate'} ({authors})")
    header = (ROOT / "packaging" / "copyright.in").read_text().rstrip()
    lines = [header.replace("@CRATES@", "\n".join(listing))]
    for c in crates:
        licence = c["license"] or ""
        if covered_by_header(licence):
            continue
        crate_dir = pathlib.Path(c["manifest_path"]).parent
        texts = sorted(p for p in crate_dir.iterdir()
                       if p.name.upper().startswith(("LICENSE", "LICENCE", "COPYING")))
        for text in texts:
            body = text.read_text(errors="replace")
            if "APACHE" in text.name.upper() or "Apache License" in body[:400]:
                continue
            # The GNU licences are in every Debian system: the header's GPL paragraph points
            # at /usr/share/common-licenses (Debian policy 12.5), so a copy is not repeated.
            if "GNU GENERAL PUBLIC LICENSE" in body[:2000] or "GNU LESSER GENERAL" in body[:2000]:
                continue
            lines.append("")
            lines.append(f"License: {c['name']} {c['version']} ({text.name})")
            lines.extend(paragraph_lines(body))
    pathlib.Path(sys.argv[1]).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
