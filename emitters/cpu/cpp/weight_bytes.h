// Large float32 weights embedded as byte strings (emitters/cpu/header.py, emitters/literals.py):
// generated headers read them through float_alias, a float type that may alias the char array.
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
#pragma once

namespace rmodel::detail {

// rmodel:begin float_alias
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "this header embeds little-endian float32 weights: generate it with weights='file' for this machine"
#endif
#if defined(__GNUC__)
typedef float __attribute__((may_alias)) float_alias;
#else
#error "weights embedded as bytes need GCC or Clang: generate the header with weights='file'"
#endif
// rmodel:end float_alias

}  // namespace rmodel::detail
