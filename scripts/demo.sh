#!/bin/sh
# The main job on a fresh Debian 12 machine: install build dependencies, build, train the
# default model (C=1 RBF, the seed's three features) on the bundled white-wine data, log it as
# a run and register it in the embedded default registry ($WINEQ_HOME), and predict the seed's
# example from the bundle and from models:/wine-quality/Production; then serve it with wineqd
# (RPC, HTTP) and predict through both. WQ_DEMO_RPC_PORT / WQ_DEMO_HTTP_PORT move wineqd off
# its default ports 7070 / 9696 (its feed is off in the demo).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

sh scripts/setup-debian.sh
[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure --quiet
make -j"$(nproc)" --no-print-directory src/client/wineq-client src/server/wineqd

client="$top/build/src/client/wineq-client"
bundle="$top/demo-bundle"
echo
echo "== wineq-client train --data data/winequality-white.csv --kernel rbf --C 1 --bundle demo-bundle --register wine-quality --promote Production"
"$client" train --data "$top/data/winequality-white.csv" --kernel rbf --C 1 --bundle "$bundle" --force \
	--register wine-quality --promote Production
echo
echo "== wineq-client predict --bundle demo-bundle --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45"
"$client" predict --bundle "$bundle" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
echo
echo "== wineq-client predict --bundle demo-bundle --input '{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45}' --format json"
"$client" predict --bundle "$bundle" --input '{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}' --format json
echo
echo "== wineq-client predict --model models:/wine-quality/Production --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45"
"$client" predict --model models:/wine-quality/Production --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
echo
echo "== wineq-client models versions wine-quality"
"$client" models versions wine-quality

rpc_port=${WQ_DEMO_RPC_PORT:-7070}
http_port=${WQ_DEMO_HTTP_PORT:-9696}
echo
echo "== wineqd --listen tcp://127.0.0.1:$rpc_port --http 127.0.0.1:$http_port --feed none --model models:/wine-quality/Production"
"$top/build/src/server/wineqd" --listen "tcp://127.0.0.1:$rpc_port" --http "127.0.0.1:$http_port" \
	--feed none --model models:/wine-quality/Production --log-level warn &
wineqd_pid=$!
trap 'kill "$wineqd_pid" 2>/dev/null' EXIT
i=0
until "$client" health --server "tcp://127.0.0.1:$rpc_port" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ "$i" -ge 100 ] || ! kill -0 "$wineqd_pid" 2>/dev/null; then
		echo "demo: wineqd did not start (ports $rpc_port/$http_port in use? set WQ_DEMO_RPC_PORT/WQ_DEMO_HTTP_PORT)" >&2
		exit 1
	fi
	sleep 0.1
done
"$client" health --server "tcp://127.0.0.1:$rpc_port"
echo
echo "== wineq-client predict --server tcp://127.0.0.1:$rpc_port --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45"
"$client" predict --server "tcp://127.0.0.1:$rpc_port" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
echo
echo "== curl -H 'Content-Type: application/json' -d '{\"alcohol\": 8.8, ...}' http://127.0.0.1:$http_port/predict"
curl -sS -H 'Content-Type: application/json' \
	-d '{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}' "http://127.0.0.1:$http_port/predict"
echo
kill -TERM "$wineqd_pid"
wait "$wineqd_pid"
trap - EXIT
echo "== wineqd stopped (SIGTERM)"
