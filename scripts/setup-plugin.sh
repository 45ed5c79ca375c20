#!/bin/sh
# Install the Grafana plugin frontend's npm packages (plugin/package-lock.json).
# Safe to run again: it installs only when the lock file changed.
set -eu
cd "$(dirname "$0")/../plugin"
for bin in node npm; do
	if ! command -v "$bin" >/dev/null 2>&1; then
		echo "setup-plugin: $bin is missing; install Debian's nodejs and npm" >&2
		exit 1
	fi
done
stamp=node_modules/.headroom-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
# node_modules holds a few Go files of its own (flatted's port); a go.mod
# there makes it a separate module, so that `go vet ./...` and
# `go test ./...` leave it alone.
keep_go_out() { printf 'module ignored\n' > node_modules/go.mod; }
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	keep_go_out
	echo "setup-plugin: npm packages up to date"
	exit 0
fi
echo "setup-plugin: installing npm packages"
# npm install (not npm ci): npm ci trips over optional platform packages
# (rollup, esbuild) that the lock file records for one platform only.
npm install --no-audit --no-fund
keep_go_out
echo "$want" > "$stamp"
