// Prints the results of ap_fixed conversions and operations on pseudo-random values, one line per
// result, so that tests/test_hls_fast_csim.py can compare rmodel's fast C-simulation types with
// Xilinx's (the same file is compiled against each set of headers). The types to check come from
// check_types.h: lines CHECK(type, "label").
#include <cstdint>
#include <cstdio>

#include "ap_fixed.h"

namespace {

std::uint64_t state = 0x9E3779B97F4A7C15ull;

std::uint64_t next() {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

// a double near the range of a type with I integer and F fractional bits: random bits, exact
// ties, values just past the limits, near ties and tiny values
double sample(int I, int F) {
  const int kind = static_cast<int>(next() % 6);
  const double span = std::ldexp(1.0, I + 1);
  const double u = static_cast<double>(next() >> 11) * std::ldexp(1.0, -53);
  if (kind == 0) return (2 * u - 1) * span;
  if (kind == 1) return (2 * u - 1) * span * 0.05;
  const std::int64_t k = static_cast<std::int64_t>(next() % 4096) - 2048;
  if (kind == 2) return std::ldexp(static_cast<double>(k) + 0.5, -F + 1 > -60 ? -F + (I > 12 ? I - 10 : 0) : -60);
  if (kind == 3) return std::ldexp(static_cast<double>(k) * 0.25, I - 10);
  // a hair off a tie of the type's resolution, or far below it (both signs)
  if (kind == 4) return std::ldexp(static_cast<double>(k) + 0.5 + (u < 0.5 ? -1 : 1) * std::ldexp(1.0, -40), -F);
  return (u < 0.5 ? -1 : 1) * std::ldexp(1.0 + u, -F - 30 - static_cast<int>(next() % 1000));
}

constexpr int at_least_one(int n) { return n > 0 ? n : 1; }

// the exact value of v (bits 2^69 down to 2^-142) as four doubles of 53 bits each; every remainder is
// narrowed to the bits it can hold
template <typename V>
void put(const char* what, const V& v) {
  constexpr int F = V::width - V::iwidth;
  const ap_fixed<53, 70> c1 = v;
  const ap_ufixed<17 + F, 17> r1 = v - c1;
  const ap_ufixed<53, 17> c2 = r1;
  const ap_ufixed<at_least_one(F - 36), -36> r2 = r1 - c2;
  const ap_ufixed<53, -36> c3 = r2;
  const ap_ufixed<53, -89> c4 = r2 - c3;
  std::printf("%s %a %a %a %a\n", what, c1.to_double(), c2.to_double(), c3.to_double(), c4.to_double());
}

// put() for a value only when Enable (the full products of wide types have more bits than put() reads)
template <bool Enable>
struct put_if {
  template <typename V>
  static void put(const char* what, const V& v) {
    ::put(what, v);
  }
};
template <>
struct put_if<false> {
  template <typename V>
  static void put(const char*, const V&) {}
};

template <typename T>
void check(const char* label, int samples) {
  const int I = T::iwidth, F = T::width - T::iwidth;
  std::printf("# %s\n", label);
  for (int n = 0; n < samples; ++n) {
    const double d = sample(I, F), e = sample(I, F);
    const T x = d, y = e;
    put("x", x);
    put("y", y);
    put("from_float", T(static_cast<float>(e)));
    put("from_int", T(static_cast<int>(next() % 2001) - 1000));
    const ap_fixed<40, 14> wide = sample(12, 28);
    put("from_fixed40", T(wide));
    const ap_fixed<24, 6, AP_RND> narrow = sample(5, 18);
    put("from_fixed24", T(narrow));
    const ap_ufixed<20, 4> unsigned_src = sample(3, 16);
    put("from_ufixed", T(unsigned_src));
    put("sum", x + y);
    put("difference", x - y);
    put_if<(T::width <= 32 && T::width - T::iwidth <= 25)>::put("product", x * y);
    put("product_fitted", T(x * y));
    put("negation", -x);
    put("sum_int", x + 3);
    T a = x;
    a += y;
    put("add_assign", a);
    a = x;
    a -= y;
    put("sub_assign", a);
    a = x;
    a *= y;
    put("mul_assign", a);
    a = x;
    a *= wide;
    put("mul_assign_wide", a);
    std::printf("cmp %d %d %d %d %d %d %d %d\n", x < y, x <= y, x > y, x >= y, x == y, x != y, x < 0, x > wide);
    std::printf("to_int %d\n", x.to_int());
    // the lookup-table indices of operators/hls/activation.py (write_lut_index): a power-of-two scale
    // (a product with a 1-bit constant), the general scale (a 48 x 48 bit product)
    ap_fixed<48, 24> t = x;
    t -= ap_fixed<48, 24>(-8.0078125);
    put("lut_scaled", t * ap_ufixed<1, 7>(64));
    put("lut_scaled_20", t * ap_ufixed<1, 21>(1 << 20));
    std::printf("lut_index %d %d %d\n", t < 0 ? 0 : (t * ap_ufixed<1, 7>(64)).to_int(),
                (t * ap_ufixed<1, 1>(1)).to_int(), (t * ap_ufixed<1, 21>(1 << 20)).to_int());
    t = x;
    t -= ap_fixed<48, 24>(1.0);
    t *= ap_fixed<48, 24>(255.75);
    t += ap_fixed<48, 24>(0.5);
    put("lut_general", t);
    std::printf("lut_general_index %d\n", t < 0 ? 0 : t.to_int());
    std::printf("to_float %a %a\n", static_cast<double>(x.to_float()), static_cast<double>(static_cast<float>(x)));
    std::printf("to_double %a\n", x.to_double());
  }
}

}  // namespace

int main() {
#define CHECK(type, label) check<type>(label, SAMPLES);
#include "check_types.h"
#undef CHECK
  return 0;
}
