// Checks shared by every generated test case (cases/<case>_test.cpp, from model_test.cpp.in).
//
// A case is a struct with `using Session = <ns>::Session;`, `static constexpr std::size_t
// kNumInputs, kNumOutputs; static constexpr const std::size_t* kInputSizes, *kOutputSizes;`
// and `static std::unique_ptr<Session> make();`. Inputs and outputs are float32.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace rmodel_test {

using Tensor = std::vector<float>;
using Tensors = std::vector<Tensor>;

/// Inputs and onnxruntime's outputs, as written by make_models.py (format in its docstring).
struct Reference {
  Tensors inputs;
  Tensors outputs;
};

inline Reference read_reference(const std::string& path, std::size_t num_inputs, std::size_t num_outputs) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot open reference file " + path);
  char magic[8];
  std::uint32_t counts[2] = {0, 0};
  file.read(magic, sizeof magic);
  file.read(reinterpret_cast<char*>(counts), sizeof counts);
  if (!file || std::memcmp(magic, "RMREF001", 8) != 0) throw std::runtime_error(path + " is not a reference file");
  if (counts[0] != num_inputs || counts[1] != num_outputs)
    throw std::runtime_error(path + ": " + std::to_string(counts[0]) + " inputs and " + std::to_string(counts[1]) +
                             " outputs, the header has " + std::to_string(num_inputs) + " and " +
                             std::to_string(num_outputs));
  Reference ref;
  for (std::size_t k = 0; k < num_inputs + num_outputs; ++k) {
    std::uint64_t size = 0;
    file.read(reinterpret_cast<char*>(&size), sizeof size);
    Tensor values(static_cast<std::size_t>(size));
    file.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(size * sizeof(float)));
    if (!file) throw std::runtime_error(path + " is truncated");
    (k < num_inputs ? ref.inputs : ref.outputs).push_back(std::move(values));
  }
  return ref;
}

template <class Case>
Reference load(const std::string& path) {
  Reference ref = read_reference(path, Case::kNumInputs, Case::kNumOutputs);
  for (std::size_t i = 0; i < Case::kNumInputs; ++i)
    if (ref.inputs[i].size() != Case::kInputSizes[i])
      throw std::runtime_error(path + ": input " + std::to_string(i) + " has " + std::to_string(ref.inputs[i].size()) +
                               " values, the header expects " + std::to_string(Case::kInputSizes[i]));
  for (std::size_t o = 0; o < Case::kNumOutputs; ++o)
    if (ref.outputs[o].size() != Case::kOutputSizes[o])
      throw std::runtime_error(path + ": output " + std::to_string(o) + " has " +
                               std::to_string(ref.outputs[o].size()) + " values, the header expects " +
                               std::to_string(Case::kOutputSizes[o]));
  return ref;
}

template <class Case>
Tensors empty_outputs() {
  Tensors out;
  for (std::size_t o = 0; o < Case::kNumOutputs; ++o) out.emplace_back(Case::kOutputSizes[o], std::nanf(""));
  return out;
}

template <class Session, std::size_t... I, std::size_t... O>
void infer_raw_impl(Session& s, const Tensors& in, Tensors& out, std::index_sequence<I...>, std::index_sequence<O...>) {
  s.infer(in[I].data()..., out[O].data()...);
}

/// The allocation-free overload: infer(const float* in..., float* out...).
template <class Case>
Tensors infer_raw(typename Case::Session& s, const Tensors& in) {
  Tensors out = empty_outputs<Case>();
  infer_raw_impl(s, in, out, std::make_index_sequence<Case::kNumInputs>{},
                 std::make_index_sequence<Case::kNumOutputs>{});
  return out;
}

template <class Session, std::size_t... I>
Tensors infer_vector_impl(Session& s, const Tensors& in, std::index_sequence<I...>) {
  auto result = s.infer(in[I].data()...);
  if constexpr (std::is_same_v<decltype(result), Tensor>) {
    return Tensors{std::move(result)};
  } else {
    return std::apply([](auto&... parts) { return Tensors{std::move(parts)...}; }, result);
  }
}

/// The convenience overload returning a vector (one output) or a tuple of vectors.
template <class Case>
Tensors infer_vector(typename Case::Session& s, const Tensors& in) {
  return infer_vector_impl(s, in, std::make_index_sequence<Case::kNumInputs>{});
}

/// max|got - ref| <= 1e-6 * max(1, max|ref|), reported with the worst index.
inline ::testing::AssertionResult close_to(const Tensor& got, const Tensor& ref) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " vs reference " << ref.size();
  float scale = 1.0f;
  for (float r : ref) scale = std::max(scale, std::fabs(r));
  const double tolerance = 1e-6 * scale;
  double worst = -1.0;
  std::size_t where = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double d = std::isnan(got[i]) != std::isnan(ref[i]) ? INFINITY : std::fabs(double(got[i]) - double(ref[i]));
    if (!(d <= worst)) {  // also catches NaN
      worst = d;
      where = i;
    }
  }
  if (got.empty() || worst <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max|d| " << worst << " > " << tolerance << " at index " << where << " (got "
                                       << got[where] << ", reference " << ref[where] << ")";
}

inline ::testing::AssertionResult identical(const Tensors& a, const Tensors& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << a.size() << " vs " << b.size() << " outputs";
  for (std::size_t o = 0; o < a.size(); ++o) {
    if (a[o].size() != b[o].size())
      return ::testing::AssertionFailure() << "output " << o << ": " << a[o].size() << " vs " << b[o].size();
    if (std::memcmp(a[o].data(), b[o].data(), a[o].size() * sizeof(float)) != 0)
      return ::testing::AssertionFailure() << "output " << o << " differs";
  }
  return ::testing::AssertionSuccess();
}

template <class Case>
void check_reference(const std::string& path) {
  const Reference ref = load<Case>(path);
  auto session = Case::make();
  const Tensors got = infer_raw<Case>(*session, ref.inputs);
  for (std::size_t o = 0; o < Case::kNumOutputs; ++o) EXPECT_TRUE(close_to(got[o], ref.outputs[o])) << "output " << o;
  // a second call on the same session (state must not leak between calls)
  EXPECT_TRUE(identical(infer_raw<Case>(*session, ref.inputs), got));
}

template <class Case>
void check_overloads(const std::string& path) {
  const Reference ref = load<Case>(path);
  auto session = Case::make();
  EXPECT_TRUE(identical(infer_raw<Case>(*session, ref.inputs), infer_vector<Case>(*session, ref.inputs)));
}

/// Two sessions on two threads at once, many calls each, give exactly what one session gives.
template <class Case>
void check_threads(const std::string& path) {
  const Reference ref = load<Case>(path);
  const Tensors expected = infer_raw<Case>(*Case::make(), ref.inputs);
  // a second input (reference input reversed) so that the threads do not run identical work
  Tensors other_inputs = ref.inputs;
  for (Tensor& t : other_inputs) std::reverse(t.begin(), t.end());
  const Tensors other_expected = infer_raw<Case>(*Case::make(), other_inputs);

  constexpr int kCalls = 25;
  std::atomic<int> ready{0};
  std::atomic<int> mismatches[2] = {{0}, {0}};
  auto work = [&](int id) {
    auto session = Case::make();
    const Tensors& in = id == 0 ? ref.inputs : other_inputs;
    const Tensors& want = id == 0 ? expected : other_expected;
    ready.fetch_add(1);
    while (ready.load() < 2) std::this_thread::yield();
    for (int k = 0; k < kCalls; ++k)
      if (!identical(k % 2 ? infer_raw<Case>(*session, in) : infer_vector<Case>(*session, in), want)) ++mismatches[id];
  };
  std::thread first(work, 0);
  std::thread second(work, 1);
  first.join();
  second.join();
  EXPECT_EQ(mismatches[0].load(), 0);
  EXPECT_EQ(mismatches[1].load(), 0);
}

}  // namespace rmodel_test
