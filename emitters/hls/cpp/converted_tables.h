// Constant tables of a fast C-simulation build (RMODEL_FAST_CSIM, firmware defines.h): the
// weight headers store the values as float, and each table is converted to its type once.
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
#pragma once

namespace detail {

// rmodel:begin rmodel_converted
// C simulation: constant tables are stored as float and converted to their type once
template <typename T>
const T* rmodel_converted(T* table, const float* values, int count) {
  for (int i = 0; i < count; ++i) table[i] = T(values[i]);
  return table;
}
// rmodel:end rmodel_converted

}  // namespace detail
