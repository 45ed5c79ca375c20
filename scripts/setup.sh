#!/bin/sh
# Install what Headroom's tests and demo need on a fresh Debian machine with
# Go. Safe to run again: it installs only what is missing.
#
#   Debian packages: prometheus, prometheus-alertmanager, prometheus-node-exporter
#                    (promtool and amtool come with them), python3 (NAB scorer),
#                    nodejs and npm (the Grafana plugin frontend), kcat
#                    (librdkafka: a Kafka client no one here wrote, against the lab),
#                    wrk (the API load figure)
#   npm packages:    scripts/setup-plugin.sh (plugin/package-lock.json)
#   Go modules:      go mod download
set -eu

cd "$(dirname "$0")/.."

# binary:package pairs the tests start as real peers.
NEEDED="node:nodejs npm:npm prometheus:prometheus promtool:prometheus prometheus-alertmanager:prometheus-alertmanager amtool:prometheus-alertmanager prometheus-node-exporter:prometheus-node-exporter python3:python3 kcat:kcat wrk:wrk"

missing=""
for pair in $NEEDED; do
	bin=${pair%%:*}
	pkg=${pair#*:}
	if ! command -v "$bin" >/dev/null 2>&1; then
		case " $missing " in
		*" $pkg "*) ;;
		*) missing="$missing $pkg" ;;
		esac
	fi
done

if [ -n "$missing" ]; then
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "setup: need root or sudo to install:$missing" >&2
			exit 1
		fi
		SUDO="sudo"
	fi
	echo "setup: installing Debian packages:$missing"
	# Packaged daemons must not start as services: tests start their own on
	# loopback ports.
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
	for pkg in $missing; do
		case $pkg in prometheus*)
			$SUDO sh -c "service $pkg stop >/dev/null 2>&1 || true"
		esac
	done
fi

for pair in $NEEDED; do
	bin=${pair%%:*}
	if ! command -v "$bin" >/dev/null 2>&1; then
		echo "setup: $bin is still missing after installing its package" >&2
		exit 1
	fi
done

echo "setup: downloading Go modules"
go mod download

if [ -x scripts/setup-plugin.sh ]; then
	scripts/setup-plugin.sh
fi
echo "setup: done"
