"""Where the C-simulation build finds ap_fixed.h/ap_int.h and hls_stream.h.

``ap_fixed``/``ap_int`` come from the user's Vitis HLS installation (``$XILINX_HLS/include``) when
present, otherwise from an installed Python package shipping Xilinx's Apache-2.0 ap_types headers
(the hls4ml wheel: ``hls4ml/templates/vivado/ap_types``). Nothing is copied into this repository.
Without Vitis, ``hls::stream`` is rmodel's own small C-simulation class (``RMODEL_STREAM_H``).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from rmodel.errors import BuildError


def xilinx_include() -> Path | None:
    root = os.environ.get("XILINX_HLS")
    if root and (Path(root) / "include" / "ap_fixed.h").is_file():
        return Path(root) / "include"
    return None


def ap_types_include() -> Path:
    """Directory holding ap_fixed.h and ap_int.h."""
    found = xilinx_include()
    if found is not None:
        return found
    spec = importlib.util.find_spec("hls4ml")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "templates" / "vivado" / "ap_types"
        if (candidate / "ap_fixed.h").is_file():
            return candidate
    raise BuildError(
        "C simulation needs Xilinx's ap_fixed.h/ap_int.h: set XILINX_HLS to a Vitis HLS installation, or "
        "install a package that ships them: pip install hls4ml"
    )


def use_own_stream() -> bool:
    """True when Xilinx's hls_stream.h is not available and rmodel's stand-in is used."""
    return xilinx_include() is None


#: a small C-simulation implementation of hls::stream (unbounded FIFO; reading an empty one aborts)
STREAM_HEADER = r"""// rmodel's C-simulation stand-in for hls_stream.h (used when Vitis HLS is not installed).
// Only for simulation with a C++ compiler: synthesis uses Xilinx's hls_stream.h.
#ifndef RMODEL_STREAM_H
#define RMODEL_STREAM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

namespace hls {

template <typename T>
class stream {
 public:
  stream() : name_("stream") {}
  explicit stream(const char* name) : name_(name) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  bool empty() const { return data_.empty(); }
  bool full() const { return false; }
  std::size_t size() const { return data_.size(); }

  void write(const T& value) { data_.push_back(value); }
  bool write_nb(const T& value) {
    write(value);
    return true;
  }
  T read() {
    if (data_.empty()) {
      std::fprintf(stderr, "hls::stream '%s': read while empty (the dataflow would deadlock)\n", name_.c_str());
      std::abort();
    }
    T value = data_.front();
    data_.pop_front();
    return value;
  }
  void read(T& value) { value = read(); }
  bool read_nb(T& value) {
    if (data_.empty()) return false;
    value = read();
    return true;
  }
  void operator<<(const T& value) { write(value); }
  void operator>>(T& value) { value = read(); }

 private:
  std::string name_;
  std::deque<T> data_;
};

}  // namespace hls

#endif  // RMODEL_STREAM_H
"""
