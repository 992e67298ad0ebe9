#!/bin/sh
# C simulation with g++ (no Vitis needed): builds firmware + test bench and runs it.
# AP_TYPES: directory of ap_fixed.h (default: $XILINX_HLS/include, else the hls4ml package's copy).
set -e
cd "$(dirname "$0")"
if [ -z "$AP_TYPES" ]; then
  if [ -n "$XILINX_HLS" ]; then AP_TYPES="$XILINX_HLS/include"; STREAM=""; else
    AP_TYPES="$(python3 -c 'import hls4ml, os; print(os.path.join(os.path.dirname(hls4ml.__file__), "templates/vivado/ap_types"))')"
  fi
fi
STREAM="${STREAM--DRMODEL_OWN_STREAM}"
echo "build_csim.sh: compiling the firmware and test bench with ${CXX:-g++} (this takes a while)..." >&2
${CXX:-g++} -std=c++14 -O2 $STREAM -Ifirmware -I"$AP_TYPES" firmware/cnn.cpp tb/cnn_test.cpp -o cnn_csim
echo "build_csim.sh: running the C simulation" >&2
./cnn_csim "$@"
