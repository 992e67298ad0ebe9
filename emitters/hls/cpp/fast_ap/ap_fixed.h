// rmodel's fast C-simulation ap_fixed / ap_ufixed (emitters/hls/csim.py, arithmetic="rmodel").
//
// Written for rmodel from Xilinx's documented semantics (UG1399, "Arbitrary Precision Data Types"):
// values are held exactly as integers scaled by 2^-F (F = W - I fractional bits) in an int64_t (or an
// __int128 for the wide intermediates of + - *), conversions apply the quantization mode to the
// dropped bits and then the overflow mode. Only the subset of the API that rmodel's generated
// firmware uses is provided; tests/test_hls_fast_csim.py checks it bit for bit against Xilinx's
// headers. Synthesis and generated projects always use Xilinx's ap_fixed.h.
//
// Not provided: AP_WRAP_SM, ap_int / ap_uint, bit and range access, printing. Mixed comparisons of
// unsigned types wider than 62 bits may differ from Xilinx's (which wraps there).
// Limits: declared types up to 64 bits wide (Python picks Xilinx's headers otherwise); the full
// precision result of an operation must fit 126 bits (a static_assert stops the build if not).
#ifndef RMODEL_FAST_AP_FIXED_H
#define RMODEL_FAST_AP_FIXED_H

#include <cmath>
#include <cstdint>
#include <type_traits>

enum ap_q_mode { AP_RND, AP_RND_ZERO, AP_RND_MIN_INF, AP_RND_INF, AP_RND_CONV, AP_TRN, AP_TRN_ZERO };
enum ap_o_mode { AP_SAT, AP_SAT_ZERO, AP_SAT_SYM, AP_WRAP, AP_WRAP_SM };

template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
class ap_fixed_base;
template <int W, int I, ap_q_mode Q = AP_TRN, ap_o_mode O = AP_WRAP, int N = 0>
class ap_fixed;
template <int W, int I, ap_q_mode Q = AP_TRN, ap_o_mode O = AP_WRAP, int N = 0>
class ap_ufixed;

namespace rmodel_ap {

typedef __int128 i128;
typedef unsigned __int128 u128;

constexpr int max_of(int a, int b) { return a > b ? a : b; }

//: widest value (sign included) the exact arithmetic below handles
constexpr int kExactBits = 126;

//: the storage of a W-bit value: int64_t when it fits, else __int128
template <int W, bool S>
struct storage {
  typedef typename std::conditional<(S ? W <= 64 : W <= 63), std::int64_t, i128>::type type;
};

//: the result type of an operation: ap_fixed (signed) or ap_ufixed
template <int W, int I, bool S>
struct result {
  typedef typename std::conditional<S, ap_fixed<W, I>, ap_ufixed<W, I>>::type type;
};

//: the rounding of a value exactly half way between q and q + 1 by mode Q (negative: the value's sign)
template <ap_q_mode Q, typename T>
inline T round_tie(T q, bool negative) {
  switch (Q) {
    case AP_RND: return q + 1;
    case AP_RND_ZERO: return negative ? q + 1 : q;
    case AP_RND_MIN_INF: return q;
    case AP_RND_INF: return negative ? q : q + 1;
    default: return (q & 1) ? q + 1 : q;  // AP_RND_CONV
  }
}

//: v * 2^-d rounded to an integer by mode Q (d > 0)
template <ap_q_mode Q>
inline i128 round_shift(i128 v, int d) {
  if (d > kExactBits) {  // keep only a sticky bit of what lies far below the rounding point
    const int k = d - kExactBits;
    const bool dropped = k >= 127 ? v != 0 : (v & ((static_cast<i128>(1) << k) - 1)) != 0;
    v = (k >= 127 ? (v < 0 ? -1 : 0) : v >> k) | (dropped ? 1 : 0);
    d = kExactBits;
  }
  const i128 q = v >> d;  // floor
  if (Q == AP_TRN) return q;
  const i128 r = v - (q << d);  // 0 <= r < 2^d
  if (Q == AP_TRN_ZERO) return q + (v < 0 && r != 0 ? 1 : 0);
  const i128 half = static_cast<i128>(1) << (d - 1);
  if (r > half) return q + 1;
  if (r < half) return q;
  return round_tie<Q>(q, v < 0);  // exactly half way
}

//: the low W bits of q as a W-bit (un)signed value
template <int W, bool S, typename T>
inline T wrap(T q) {
  constexpr int B = sizeof(T) * 8;
  if (W >= B) return q;
  typedef typename std::conditional<(B > 64), u128, std::uint64_t>::type U;
  if (S) return static_cast<T>(static_cast<U>(q) << (W < B ? B - W : 0)) >> (W < B ? B - W : 0);
  return static_cast<T>(static_cast<U>(q) & ((static_cast<U>(1) << (W < B ? W : 0)) - 1));
}

template <int W, bool S>
struct limits {
  static constexpr i128 high() { return (static_cast<i128>(1) << (S ? W - 1 : W)) - 1; }
  static constexpr i128 low() { return S ? -(static_cast<i128>(1) << (W - 1)) : 0; }
};

//: the integer q (rounded to the target's resolution, not yet fitted) in the W-bit range by mode O
template <int W, bool S, ap_o_mode O, typename T>
inline T fit(T q) {
  static_assert(W <= kExactBits, "rmodel fast ap_fixed: type too wide");
  if (O == AP_WRAP) return wrap<W, S>(q);
  const T high = static_cast<T>(limits<W, S>::high()), low = static_cast<T>(limits<W, S>::low());
  if (O == AP_SAT_SYM && S && q == low) return -high;  // the symmetric range never holds -2^(W-1)
  if (q >= low && q <= high) return q;
  switch (O) {
    case AP_SAT: return q < low ? low : high;
    case AP_SAT_ZERO: return 0;
    default: return q < low ? (S ? -high : 0) : high;  // AP_SAT_SYM
  }
}

//: a value of magnitude >= 2^126 whose low bits are ``low_bits`` (already reduced mod 2^128)
template <int W, bool S, ap_o_mode O>
inline i128 fit_huge(bool negative, u128 low_bits) {
  const i128 high = limits<W, S>::high(), low = limits<W, S>::low();
  switch (O) {
    case AP_WRAP: return wrap<W, S>(static_cast<i128>(low_bits));
    case AP_SAT: return negative ? low : high;
    case AP_SAT_ZERO: return 0;
    default: return negative ? (S ? -high : 0) : high;  // AP_SAT_SYM
  }
}

inline int bit_length(i128 v) {
  u128 m = v < 0 ? ~static_cast<u128>(v) : static_cast<u128>(v);
  int n = 0;
  while (m) {
    m >>= 1;
    ++n;
  }
  return n;
}

//: raw value of <W, I, S, Q, O> nearest (by Q, O) to v * 2^-fs, any fs at run time
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O>
inline i128 convert_dynamic(i128 v, int fs) {
  const int s = (W - I) - fs;
  if (s < 0) return fit<W, S, O>(round_shift<Q>(v, -s));
  if (v == 0) return 0;
  if (bit_length(v) + s <= kExactBits) return fit<W, S, O>(static_cast<i128>(static_cast<u128>(v) << s));
  return fit_huge<W, S, O>(v < 0, s >= 128 ? 0 : static_cast<u128>(v) << s);
}

//: raw value of <W, I, S, Q, O> from a raw value of a WS-bit type with FS fractional bits
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int WS, int FS, typename V>
inline typename storage<W, S>::type convert(V v) {
  typedef typename storage<W, S>::type R;
  constexpr int s = (W - I) - FS;
  if (s >= 0) {
    if (WS + s <= 63 && W <= 64) {  // a shift and a fit in 64 bits
      const std::int64_t q = static_cast<std::int64_t>(static_cast<std::uint64_t>(v) << (s > 0 ? s : 0));
      if (O == AP_WRAP && W <= 64) return static_cast<R>(wrap<W, S>(q));
      return static_cast<R>(fit<W, S, O>(static_cast<i128>(q)));
    }
    if (WS + s <= kExactBits) return static_cast<R>(fit<W, S, O>(static_cast<i128>(static_cast<u128>(v) << s)));
    return static_cast<R>(convert_dynamic<W, I, S, Q, O>(static_cast<i128>(v), FS));
  }
  if (Q == AP_TRN && -s < 63 && sizeof(V) == 8) {  // floor: an arithmetic shift
    const std::int64_t q = static_cast<std::int64_t>(v) >> (s < 0 ? -s : 0);
    if (O == AP_WRAP && W <= 64) return static_cast<R>(wrap<W, S>(q));
    return static_cast<R>(fit<W, S, O>(static_cast<i128>(q)));
  }
  return static_cast<R>(fit<W, S, O>(round_shift<Q>(static_cast<i128>(v), -s)));
}

//: 2^e as a double (|e| <= 1022: a normal number)
constexpr double pow2(int e) {
  double p = 1.0;
  for (; e > 0; --e) p *= 2.0;
  for (; e < 0; ++e) p *= 0.5;
  return p;
}

//: x (an exactly scaled double, |x| < 2^52) rounded to an integer by mode Q
template <ap_q_mode Q>
inline std::int64_t round_double(double x) {
  const double floor = std::floor(x);  // exact, and so are floor + 0.5 and the comparisons below
  const std::int64_t q = static_cast<std::int64_t>(floor);
  if (x == floor || Q == AP_TRN) return q;
  if (Q == AP_TRN_ZERO) return x < 0 ? q + 1 : q;
  const double half = floor + 0.5;
  if (x > half) return q + 1;
  if (x < half) return q;
  return round_tie<Q>(q, x < 0);  // exactly half way
}

//: raw value of <W, I, S, Q, O> from a double (exactly its value, then quantized)
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O>
inline typename storage<W, S>::type from_double(double d) {
  typedef typename storage<W, S>::type R;
  constexpr int F = W - I;
  if (F >= -1000 && F <= 1000) {  // the common case: d * 2^F is exact and small, rounded in doubles
    constexpr double scale = pow2(F >= -1000 && F <= 1000 ? F : 0), big = pow2(52), tiny = pow2(-1000);
    const double x = d * scale;
    typedef typename std::conditional<(W <= 63), std::int64_t, i128>::type T;
    if (std::fabs(x) < big && (std::fabs(x) >= tiny || x == 0.0))
      return static_cast<R>(fit<W, S, O>(static_cast<T>(round_double<Q>(x))));
  }
  if (d == 0.0 || std::isnan(d)) return 0;
  if (std::isinf(d)) return static_cast<R>(fit_huge<W, S, O>(d < 0, 0));
  int e = 0;
  const double m = std::frexp(d, &e);  // d = m * 2^e, 0.5 <= |m| < 1
  const std::int64_t mant = static_cast<std::int64_t>(std::ldexp(m, 53));
  return static_cast<R>(convert_dynamic<W, I, S, Q, O>(mant, 53 - e));
}

//: raw * 2^-F as a double
template <int F, typename T>
inline double to_double(T raw) {
  // a multiplication by a normal power of two rounds like ldexp (once, subnormal results included)
  constexpr double scale = pow2(F >= -1022 && F <= 1022 ? -F : 0);
  if (F >= -1022 && F <= 1022) return static_cast<double>(raw) * scale;
  return std::ldexp(static_cast<double>(raw), -F);
}

//: the ap_fixed view of a C++ integer type
template <typename T>
struct integer_traits {
  static constexpr int width = sizeof(T) * 8;
  static constexpr bool is_signed = std::is_signed<T>::value;
};

}  // namespace rmodel_ap

template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
class ap_fixed_base {
  static_assert(W >= 1 && W <= 128, "rmodel fast ap_fixed: width out of range");
  static_assert(O != AP_WRAP_SM, "rmodel fast ap_fixed: AP_WRAP_SM is not supported, use Xilinx's headers");

 public:
  typedef typename rmodel_ap::storage<W, S>::type raw_type;
  static constexpr int width = W, iwidth = I, fwidth = W - I;
  static constexpr bool sign_flag = S;
  static constexpr ap_o_mode omode = O;
  raw_type raw;

  ap_fixed_base() {}
  template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
  ap_fixed_base(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o)
      : raw(rmodel_ap::convert<W, I, S, Q, O, W2, W2 - I2>(o.raw)) {}
  ap_fixed_base(double d) : raw(rmodel_ap::from_double<W, I, S, Q, O>(d)) {}
  ap_fixed_base(float f) : raw(rmodel_ap::from_double<W, I, S, Q, O>(f)) {}
  ap_fixed_base(bool b) : raw(rmodel_ap::convert<W, I, S, Q, O, 2, 0>(static_cast<std::int64_t>(b))) {}
#define RMODEL_AP_FROM_INT(T)                                                                                \
  ap_fixed_base(T v)                                                                                         \
      : raw(rmodel_ap::convert<W, I, S, Q, O, rmodel_ap::integer_traits<T>::width + 1, 0>(                   \
            static_cast<typename std::conditional<(rmodel_ap::integer_traits<T>::width < 64), std::int64_t, \
                                                  rmodel_ap::i128>::type>(v))) {}
  RMODEL_AP_FROM_INT(char)
  RMODEL_AP_FROM_INT(signed char)
  RMODEL_AP_FROM_INT(unsigned char)
  RMODEL_AP_FROM_INT(short)
  RMODEL_AP_FROM_INT(unsigned short)
  RMODEL_AP_FROM_INT(int)
  RMODEL_AP_FROM_INT(unsigned int)
  RMODEL_AP_FROM_INT(long)
  RMODEL_AP_FROM_INT(unsigned long)
  RMODEL_AP_FROM_INT(long long)
  RMODEL_AP_FROM_INT(unsigned long long)
#undef RMODEL_AP_FROM_INT

  //: a value from its raw bits (already in range)
  static ap_fixed_base from_raw(raw_type r) {
    ap_fixed_base x;
    x.raw = r;
    return x;
  }

  double to_double() const { return rmodel_ap::to_double<W - I>(raw); }
  float to_float() const { return static_cast<float>(to_double()); }
  operator double() const { return to_double(); }
  operator float() const { return to_float(); }
  //: the integer part, rounded toward zero (as Xilinx's: -1 for negative values of types with I <= 0)
  int to_int() const { return static_cast<int>(to_integer()); }
  long to_long() const { return static_cast<long>(to_integer()); }
  long long to_int64() const { return static_cast<long long>(to_integer()); }

  template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
  ap_fixed_base& operator+=(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) {
    return *this = *this + o;
  }
  template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
  ap_fixed_base& operator-=(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) {
    return *this = *this - o;
  }
  template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
  ap_fixed_base& operator*=(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) {
    return *this = *this * o;
  }
  ap_fixed_base& operator+=(int v) { return *this += ap_fixed_base<32, 32, true, AP_TRN, AP_WRAP, 0>(v); }
  ap_fixed_base& operator-=(int v) { return *this -= ap_fixed_base<32, 32, true, AP_TRN, AP_WRAP, 0>(v); }
  ap_fixed_base& operator*=(int v) { return *this *= ap_fixed_base<32, 32, true, AP_TRN, AP_WRAP, 0>(v); }

  typename rmodel_ap::result<W + 1, I + 1, true>::type operator-() const {
    typename rmodel_ap::result<W + 1, I + 1, true>::type r;
    r.raw = -static_cast<decltype(r.raw)>(raw);
    return r;
  }
  const ap_fixed_base& operator+() const { return *this; }
  bool operator!() const { return raw == 0; }

 private:
  rmodel_ap::i128 to_integer() const {
    constexpr int F = W - I;
    if (I <= 0) return raw < 0 ? -1 : 0;
    if (F <= 0) return static_cast<rmodel_ap::i128>(raw) * (static_cast<rmodel_ap::i128>(1) << (F < 0 ? -F : 0));
    return rmodel_ap::round_shift<AP_TRN_ZERO>(static_cast<rmodel_ap::i128>(raw), F > 0 ? F : 1);
  }
};

template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
class ap_fixed : public ap_fixed_base<W, I, true, Q, O, N> {
  typedef ap_fixed_base<W, I, true, Q, O, N> Base;

 public:
  ap_fixed() {}
  template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
  ap_fixed(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) : Base(o) {}
  template <typename T, typename = typename std::enable_if<std::is_arithmetic<T>::value>::type>
  ap_fixed(T v) : Base(v) {}
};

template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
class ap_ufixed : public ap_fixed_base<W, I, false, Q, O, N> {
  typedef ap_fixed_base<W, I, false, Q, O, N> Base;

 public:
  ap_ufixed() {}
  template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
  ap_ufixed(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) : Base(o) {}
  template <typename T, typename = typename std::enable_if<std::is_arithmetic<T>::value>::type>
  ap_ufixed(T v) : Base(v) {}
};

namespace rmodel_ap {

//: + and -: the sum of two values of (W1, I1, S1) and (W2, I2, S2) exactly
template <int W1, int I1, bool S1, int W2, int I2, bool S2, bool Minus>
struct sum_type {
  static constexpr int F = max_of(W1 - I1, W2 - I2);
  static constexpr int I = max_of(I1 + (S2 && !S1 ? 1 : 0), I2 + (S1 && !S2 ? 1 : 0)) + 1;
  static constexpr bool S = Minus || S1 || S2;
  static_assert(I + F <= kExactBits, "rmodel fast ap_fixed: the exact sum is too wide");
  typedef typename result<I + F, I, S>::type type;
};

template <typename R, int F1, int F2, typename A, typename B, bool Minus>
inline R add(A a, B b) {
  constexpr int F = R::fwidth;
  typedef typename R::raw_type T;
  R r;
  const T x = static_cast<T>(a) * (static_cast<T>(1) << (F - F1));
  const T y = static_cast<T>(b) * (static_cast<T>(1) << (F - F2));
  r.raw = Minus ? x - y : x + y;
  return r;
}

//: the value of an operand as an ap_fixed (C++ integers: an exact integer type)
template <typename T, typename = void>
struct operand;
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
struct operand<ap_fixed_base<W, I, S, Q, O, N>> {
  typedef ap_fixed_base<W, I, S, Q, O, N> type;
  static const type& get(const type& v) { return v; }
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct operand<ap_fixed<W, I, Q, O, N>> : operand<ap_fixed_base<W, I, true, Q, O, N>> {};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct operand<ap_ufixed<W, I, Q, O, N>> : operand<ap_fixed_base<W, I, false, Q, O, N>> {};
template <typename T>
struct operand<T, typename std::enable_if<std::is_integral<T>::value>::type> {
  static constexpr int W = std::is_same<T, bool>::value ? 1 : integer_traits<T>::width;
  static constexpr bool S = std::is_same<T, bool>::value ? false : integer_traits<T>::is_signed;
  typedef ap_fixed_base<W, W, S, AP_TRN, AP_WRAP, 0> type;
  static type get(T v) { return type(v); }
};

}  // namespace rmodel_ap

template <int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1, int W2, int I2, bool S2, ap_q_mode Q2,
          ap_o_mode O2, int N2>
inline typename rmodel_ap::sum_type<W1, I1, S1, W2, I2, S2, false>::type operator+(
    const ap_fixed_base<W1, I1, S1, Q1, O1, N1>& a, const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& b) {
  typedef typename rmodel_ap::sum_type<W1, I1, S1, W2, I2, S2, false>::type R;
  return rmodel_ap::add<R, W1 - I1, W2 - I2, decltype(a.raw), decltype(b.raw), false>(a.raw, b.raw);
}

template <int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1, int W2, int I2, bool S2, ap_q_mode Q2,
          ap_o_mode O2, int N2>
inline typename rmodel_ap::sum_type<W1, I1, S1, W2, I2, S2, true>::type operator-(
    const ap_fixed_base<W1, I1, S1, Q1, O1, N1>& a, const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& b) {
  typedef typename rmodel_ap::sum_type<W1, I1, S1, W2, I2, S2, true>::type R;
  return rmodel_ap::add<R, W1 - I1, W2 - I2, decltype(a.raw), decltype(b.raw), true>(a.raw, b.raw);
}

template <int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1, int W2, int I2, bool S2, ap_q_mode Q2,
          ap_o_mode O2, int N2>
inline typename rmodel_ap::result<W1 + W2, I1 + I2, S1 || S2>::type operator*(
    const ap_fixed_base<W1, I1, S1, Q1, O1, N1>& a, const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& b) {
  static_assert(W1 + W2 <= 128 && (S1 || S2 || W1 + W2 <= 127), "rmodel fast ap_fixed: the exact product is too wide");
  typedef typename rmodel_ap::result<W1 + W2, I1 + I2, S1 || S2>::type R;
  typedef typename R::raw_type T;
  R r;
  r.raw = static_cast<T>(a.raw) * static_cast<T>(b.raw);
  return r;
}

//: exact comparison: both raw values at the finer resolution
template <int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1, int W2, int I2, bool S2, ap_q_mode Q2,
          ap_o_mode O2, int N2>
inline int ap_compare(const ap_fixed_base<W1, I1, S1, Q1, O1, N1>& a, const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& b) {
  constexpr int F = rmodel_ap::max_of(W1 - I1, W2 - I2);
  constexpr int bits = rmodel_ap::max_of(I1, I2) + F + 2;
  typedef typename std::conditional<(bits <= 64), std::int64_t, rmodel_ap::i128>::type T;
  static_assert(bits <= 128, "rmodel fast ap_fixed: comparison too wide");
  const T x = static_cast<T>(a.raw) * (static_cast<T>(1) << (F - (W1 - I1)));
  const T y = static_cast<T>(b.raw) * (static_cast<T>(1) << (F - (W2 - I2)));
  return x < y ? -1 : (x > y ? 1 : 0);
}

#define RMODEL_AP_COMPARE(OP)                                                                                    \
  template <int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1, int W2, int I2, bool S2, ap_q_mode Q2, \
            ap_o_mode O2, int N2>                                                                                \
  inline bool operator OP(const ap_fixed_base<W1, I1, S1, Q1, O1, N1>& a,                                        \
                          const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& b) {                                      \
    return ap_compare(a, b) OP 0;                                                                                \
  }                                                                                                              \
  template <int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1, typename T,                            \
            typename = typename std::enable_if<std::is_integral<T>::value>::type>                               \
  inline bool operator OP(const ap_fixed_base<W1, I1, S1, Q1, O1, N1>& a, T b) {                                 \
    return ap_compare(a, rmodel_ap::operand<T>::get(b)) OP 0;                                                    \
  }                                                                                                              \
  template <int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1, typename T,                            \
            typename = typename std::enable_if<std::is_integral<T>::value>::type>                               \
  inline bool operator OP(T b, const ap_fixed_base<W1, I1, S1, Q1, O1, N1>& a) {                                 \
    return ap_compare(rmodel_ap::operand<T>::get(b), a) OP 0;                                                    \
  }                                                                                                              \
  template <int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1>                                        \
  inline bool operator OP(const ap_fixed_base<W1, I1, S1, Q1, O1, N1>& a, double b) {                           \
    return a.to_double() OP b;                                                                                   \
  }                                                                                                              \
  template <int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1>                                        \
  inline bool operator OP(double b, const ap_fixed_base<W1, I1, S1, Q1, O1, N1>& a) {                           \
    return b OP a.to_double();                                                                                   \
  }                                                                                                              \
  template <int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1>                                        \
  inline bool operator OP(const ap_fixed_base<W1, I1, S1, Q1, O1, N1>& a, float b) {                            \
    return a.to_double() OP static_cast<double>(b);                                                              \
  }                                                                                                              \
  template <int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1>                                        \
  inline bool operator OP(float b, const ap_fixed_base<W1, I1, S1, Q1, O1, N1>& a) {                            \
    return static_cast<double>(b) OP a.to_double();                                                              \
  }
RMODEL_AP_COMPARE(==)
RMODEL_AP_COMPARE(!=)
RMODEL_AP_COMPARE(<)
RMODEL_AP_COMPARE(<=)
RMODEL_AP_COMPARE(>)
RMODEL_AP_COMPARE(>=)
#undef RMODEL_AP_COMPARE

//: arithmetic with a C++ integer: the integer as an exact ap_fixed of its width
#define RMODEL_AP_INT_OP(OP)                                                                                  \
  template <int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1, typename T,                         \
            typename = typename std::enable_if<std::is_integral<T>::value>::type>                            \
  inline auto operator OP(const ap_fixed_base<W1, I1, S1, Q1, O1, N1>& a, T b)                                \
      ->decltype(a OP rmodel_ap::operand<T>::get(b)) {                                                        \
    return a OP rmodel_ap::operand<T>::get(b);                                                                \
  }                                                                                                           \
  template <int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1, typename T,                         \
            typename = typename std::enable_if<std::is_integral<T>::value>::type>                            \
  inline auto operator OP(T b, const ap_fixed_base<W1, I1, S1, Q1, O1, N1>& a)                                \
      ->decltype(rmodel_ap::operand<T>::get(b) OP a) {                                                        \
    return rmodel_ap::operand<T>::get(b) OP a;                                                                \
  }
RMODEL_AP_INT_OP(+)
RMODEL_AP_INT_OP(-)
RMODEL_AP_INT_OP(*)
#undef RMODEL_AP_INT_OP

namespace rmodel_fast {

// The multiply-accumulate of rmodel's Dense, Conv and recurrent stages in C simulation
// (operators/hls/products.py):
// acc[o] += sum_u a[u] * w[o][u] as exact double sums of the raw products (the sum of the raw
// products needs at most 53 bits), added to acc once per output. The same as adding the products
// one by one when acc keeps every fractional bit of a product and wraps (AP_WRAP is modular).

template <typename T>
struct is_fixed : std::false_type {};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct is_fixed<ap_fixed<W, I, Q, O, N>> : std::true_type {};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct is_fixed<ap_ufixed<W, I, Q, O, N>> : std::true_type {};

constexpr int log2_ceil(int n) { return n <= 1 ? 0 : 1 + log2_ceil((n + 1) / 2); }

template <typename TA, typename TW, typename TACC, int K,
          bool Fixed = is_fixed<TA>::value && is_fixed<TW>::value && is_fixed<TACC>::value>
struct mac_fits : std::false_type {};
template <typename TA, typename TW, typename TACC, int K>
struct mac_fits<TA, TW, TACC, K, true> {
  static constexpr int product_f = (TA::width - TA::iwidth) + (TW::width - TW::iwidth);
  static constexpr bool value = TACC::width - TACC::iwidth >= product_f && TACC::omode == AP_WRAP &&
                                TA::width + TW::width + log2_ceil(K) + 1 <= 53;
};

//: 8 doubles (64-bit integers), one vector register with AVX-512, two or four otherwise
typedef double vec8 __attribute__((vector_size(64)));
typedef std::int64_t ivec8 __attribute__((vector_size(64)));

//: the weights as raw values in blocks of 8 outputs: w[u * B + b] holds term u of outputs 8b..8b+7
//: (zeros where a weight is skipped or past the last output)
template <int O, int K>
struct matrix {
  static constexpr int B = (O + 7) / 8;
  vec8 w[B * K];
};

template <int O, int K, typename TW>
matrix<O, K> make_matrix_of(const TW* values, const int* src, const int* dst, int count, std::true_type) {
  matrix<O, K> m;
  constexpr int B = matrix<O, K>::B;
  for (int i = 0; i < B * K; ++i)
    for (int l = 0; l < 8; ++l) m.w[i][l] = 0.0;
  for (int t = 0; t < count; ++t) {
    const int o = dst ? dst[t] : t / K, u = src ? src[t] : t % K;
    m.w[u * B + o / 8][o % 8] = static_cast<double>(values[t].raw);
  }
  return m;
}
template <int O, int K, typename TW>
matrix<O, K> make_matrix_of(const TW*, const int*, const int*, int, std::false_type) {
  return matrix<O, K>();
}
template <int O, int K, typename TW>
matrix<O, K> make_matrix(const TW* values, const int* src, const int* dst, int count) {
  return make_matrix_of<O, K>(values, src, dst, count, is_fixed<TW>());
}

//: acc += total * 2^-F, where acc keeps every fractional bit of a product and wraps
template <int F, typename TACC>
inline void add_sum(std::int64_t total, TACC& acc, std::true_type) {  // acc's raw value in 64 bits
  constexpr int shift = TACC::fwidth - F;
  const std::uint64_t v = static_cast<std::uint64_t>(acc.raw) + (static_cast<std::uint64_t>(total) << shift);
  acc.raw = rmodel_ap::wrap<TACC::width, TACC::sign_flag>(static_cast<std::int64_t>(v));  // modulo 2^64, wrapped
}
template <int F, typename TACC>
inline void add_sum(std::int64_t total, TACC& acc, std::false_type) {
  ap_fixed<63, 63 - F> sum;
  sum.raw = total;
  acc += sum;
}

template <int O, int K, typename TW, typename TA, typename TACC>
bool mac_of(const matrix<O, K>& m, const TA* a, TACC* acc, std::true_type) {
  constexpr int F = mac_fits<TA, TW, TACC, K>::product_f, B = matrix<O, K>::B;
  // C x B independent sums of 8 outputs (at least 4, so that the latency of a multiply-add hides)
  constexpr int C = B >= 4 ? 1 : (B >= 2 ? 2 : 4);
  constexpr int whole = K - K % C;  // terms in full groups of C
  vec8 s[C][B];
  for (int c = 0; c < C; ++c)
    for (int b = 0; b < B; ++b) s[c][b] = vec8{};
  for (int u = 0; u < whole; u += C) {
    for (int c = 0; c < C; ++c) {
      const double x = static_cast<double>(a[u + c].raw);
      for (int b = 0; b < B; ++b) s[c][b] += m.w[(u + c) * B + b] * x;
    }
  }
  for (int u = whole; u < K; ++u) {
    const double x = static_cast<double>(a[u].raw);
    for (int b = 0; b < B; ++b) s[0][b] += m.w[u * B + b] * x;
  }
  typedef std::integral_constant<bool, std::is_same<typename TACC::raw_type, std::int64_t>::value> raw64;
  for (int b = 0; b < B; ++b) {
    vec8 total = s[0][b];
    for (int c = 1; c < C; ++c) total += s[c][b];
    const ivec8 q = __builtin_convertvector(total, ivec8);  // exact: |total| < 2^53
    for (int l = 0; l < 8 && b * 8 + l < O; ++l) add_sum<F>(q[l], acc[b * 8 + l], raw64());
  }
  return true;
}
template <int O, int K, typename TW, typename TA, typename TACC>
bool mac_of(const matrix<O, K>&, const TA*, TACC*, std::false_type) {
  return false;
}
//: false (nothing done) when the types do not allow exact double sums
template <int O, int K, typename TW, typename TA, typename TACC>
bool mac(const matrix<O, K>& m, const TW*, const TA* a, TACC* acc) {
  return mac_of<O, K, TW>(m, a, acc, std::integral_constant<bool, mac_fits<TA, TW, TACC, K>::value>());
}

}  // namespace rmodel_fast

#endif  // RMODEL_FAST_AP_FIXED_H
