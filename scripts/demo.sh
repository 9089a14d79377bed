#!/bin/sh
# The main job on a fresh Debian 12 machine: install build dependencies, build, train the
# default model (C=1 RBF, the seed's three features) on the bundled white-wine data, log it as
# a run and register it in the embedded default registry ($WINEQ_HOME), and predict the seed's
# example from the bundle and from models:/wine-quality/Production.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

sh scripts/setup-debian.sh
[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure --quiet
make -j"$(nproc)" --no-print-directory src/client/wineq-client

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
