#!/usr/bin/env sh
# Release build of hookgate: static (CGO_ENABLED=0, the SQLite driver is pure
# Go), reproducible paths (-trimpath), stripped (-s -w), and with the version
# stamped, so `hookgate version` names the build.
#
#   packaging/build-release.sh                  # dist/hookgate-VERSION-GOOS-GOARCH
#   GOOS=linux GOARCH=arm64 packaging/build-release.sh
#   VERSION=v1.2.0 OUT=/tmp/hookgate packaging/build-release.sh
#
# VERSION defaults to `git describe --tags --always --dirty` (a tag, or the
# commit, with -dirty when the tree has uncommitted changes).
set -eu
cd "$(dirname "$0")/.."
VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo unknown)}"
GOOS="${GOOS:-$(go env GOOS)}"
GOARCH="${GOARCH:-$(go env GOARCH)}"
OUT="${OUT:-dist/hookgate-$VERSION-$GOOS-$GOARCH}"
mkdir -p "$(dirname "$OUT")"
CGO_ENABLED=0 GOOS="$GOOS" GOARCH="$GOARCH" go build -trimpath \
	-ldflags "-s -w -X github.com/hookgate/hookgate/cli.Version=$VERSION" \
	-o "$OUT" ./cmd/hookgate
echo "$OUT ($(wc -c <"$OUT" | tr -d ' ') bytes, $VERSION)"
