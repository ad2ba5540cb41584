#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Builds playhead's .deb into target/debian/ and prints its path on the last line.
#
#   packaging/build-deb.sh
#
# Needs cargo-deb, dpkg-dev (dpkg-shlibdeps works out the Depends), python3, and what building
# playhead needs; `packaging/quickstart.sh deb` installs all that and then runs this.
# Steps: one release build; the man pages and shell completions generated from the clap
# definitions (packaging/gen_docs.rs, run as a cargo example); the copyright file with the
# crates compiled in (packaging/copyright.py); then `cargo deb` packs the files listed in
# Cargo.toml's [package.metadata.deb].
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cargo-deb:cargo-deb dpkg-shlibdeps:dpkg-dev python3:python3; do
    if ! command -v "${tool%%:*}" >/dev/null; then
        echo "build-deb: '${tool%%:*}' is missing (${tool#*:}); packaging/quickstart.sh deb installs it" >&2
        exit 1
    fi
done

version="$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "playhead"))')"
changelog_version="$(sed -n '1s/^playhead (\([^)]*\)).*/\1/p' packaging/changelog)"
if [ "${changelog_version%-*}" != "$version" ]; then
    echo "build-deb: packaging/changelog's latest entry is $changelog_version but Cargo.toml says $version;" >&2
    echo "           add an entry for $version-1 at the top of packaging/changelog" >&2
    exit 1
fi

out=target/packaging
mkdir -p "$out"
cargo build --release --locked
rm -rf "$out/docs"
cargo run --quiet --locked --example gen-docs -- "$out/docs"
python3 packaging/copyright.py "$out/copyright"
# --no-build: the release build above is the one packed (cargo-deb would build it again with
# other flags). --strip: the release profile keeps line tables for backtraces during
# development; the package ships the program without them.
cargo deb --no-build --strip --locked --output target/debian/ >"$out/cargo-deb.log" 2>&1 || {
    cat "$out/cargo-deb.log" >&2
    exit 1
}
deb="$(tail -n 1 "$out/cargo-deb.log")"
if [ ! -f "$deb" ]; then
    cat "$out/cargo-deb.log" >&2
    echo "build-deb: cargo deb did not say where it wrote the package" >&2
    exit 1
fi
echo "$deb"
