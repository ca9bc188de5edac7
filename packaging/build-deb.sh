#!/usr/bin/env bash
# Builds the static binary and the Debian package:
#
#     bash packaging/build-deb.sh
#
# -> target/x86_64-unknown-linux-musl/release/helpstack   (static, stripped, mimalloc)
# -> target/x86_64-unknown-linux-musl/release/helpstack.1(.gz) (man page from its -h output)
# -> target/debian/helpstack_<version>_amd64.deb
#
# It installs nothing. It needs, and says how to get when missing:
#   musl-gcc     apt-get install musl-tools     (x86_64-linux-musl-gcc builds the C parts:
#                                                 SQLite, aws-lc, mimalloc)
#   musl target  rustup target add x86_64-unknown-linux-musl
#   cargo-deb    cargo install cargo-deb --locked --version 3.8.0
# Honours CARGO_TARGET_DIR (default: target/).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-musl
missing=0
if ! command -v x86_64-linux-musl-gcc >/dev/null 2>&1; then
    echo "build-deb: x86_64-linux-musl-gcc not found; install it with: apt-get install musl-tools" >&2
    missing=1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    echo "build-deb: Rust target $TARGET missing; install it with: rustup target add $TARGET" >&2
    missing=1
fi
if ! cargo deb --version >/dev/null 2>&1; then
    echo "build-deb: cargo-deb not found; install it with: cargo install cargo-deb --locked --version 3.8.0" >&2
    missing=1
fi
[ "$missing" = 0 ] || exit 1

target_dir="${CARGO_TARGET_DIR:-target}"
version="$(cargo metadata --no-deps --format-version 1 --locked \
    | sed -n 's/.*"name":"helpstack","version":"\([^"]*\)".*/\1/p')"
[ -n "$version" ] || { echo "build-deb: cannot read the package version" >&2; exit 1; }

echo "== cargo build --release --target $TARGET"
cargo build --release --locked --target "$TARGET"
bin="$target_dir/$TARGET/release/helpstack"

echo "== man page (packaging/gen-man.sh)"
bash packaging/gen-man.sh "$bin" "$target_dir/$TARGET/release/helpstack.1"
# cargo-deb compresses man pages only when they are not under target/.
gzip -9 -n -f -k "$target_dir/$TARGET/release/helpstack.1"

echo "== cargo deb --no-build"
# --output pins the file name; with revision = "" cargo-deb names it the same way.
deb="$target_dir/debian/helpstack_${version}_amd64.deb"
mkdir -p "$target_dir/debian"
cargo deb --target "$TARGET" --no-build --locked --output "$deb"

echo "binary:  $bin ($(stat -c %s "$bin") bytes)"
echo "package: $deb ($(stat -c %s "$deb") bytes)"
