// The mlp generated with a dynamic batch (namespace mlp_dynamic, kernels for 4, 2 and 1 samples)
// next to the batch-1 header (namespace mlp) in one translation unit: infer(n, ...) must match
// onnxruntime on every prefix of 11 samples (every split over the kernels), never touch memory
// past the n samples it was given, and agree with the vector overload.
#include "rmodel_test.hpp"
#include "rmodel_test_mlp.hxx"
#include "rmodel_test_mlp_dynamic.hxx"

static_assert(mlp_dynamic::kDynamicBatch && mlp_dynamic::kMaxBatch == 4, "dynamic batch up to 4");
static_assert(mlp_dynamic::kInputSampleSizes[0] == mlp::kInputSize, "one sample of the dynamic header");
static_assert(mlp_dynamic::kOutputSampleSizes[0] == mlp::kOutputSize, "one sample of the dynamic header");
static_assert(sizeof(mlp_dynamic::kBatchKernels) / sizeof(std::size_t) == 3, "kernels 4, 2, 1");

namespace {

constexpr std::size_t kSamples = 11;
constexpr std::size_t kIn = mlp_dynamic::kInputSampleSizes[0];
constexpr std::size_t kOut = mlp_dynamic::kOutputSampleSizes[0];

rmodel_test::Reference reference() {
  return rmodel_test::read_reference(RMODEL_TEST_DYNAMIC_REFERENCE, mlp_dynamic::kNumInputs, mlp_dynamic::kNumOutputs);
}

}  // namespace

TEST(DynamicBatch, EveryPrefixMatchesOnnxruntime) {
  const rmodel_test::Reference ref = reference();
  ASSERT_EQ(ref.inputs[0].size(), kSamples * kIn);
  ASSERT_EQ(ref.outputs[0].size(), kSamples * kOut);
  auto session = std::make_unique<mlp_dynamic::Session>();
  for (std::size_t n = 0; n <= kSamples; ++n) {
    // one guard sample past the end: it must keep its NaNs
    std::vector<float> out((n + 1) * kOut, std::nanf(""));
    session->infer(n, ref.inputs[0].data(), out.data());
    const std::vector<float> got(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n * kOut));
    const std::vector<float> want(ref.outputs[0].begin(),
                                  ref.outputs[0].begin() + static_cast<std::ptrdiff_t>(n * kOut));
    EXPECT_TRUE(rmodel_test::close_to(got, want)) << n << " samples";
    for (std::size_t k = n * kOut; k < out.size(); ++k) EXPECT_TRUE(std::isnan(out[k])) << n << " samples, value " << k;
  }
}

TEST(DynamicBatch, VectorOverloadAndBatchOneHeaderAgree) {
  const rmodel_test::Reference ref = reference();
  auto session = std::make_unique<mlp_dynamic::Session>();
  auto single = std::make_unique<mlp::Session>();
  const std::vector<float> all = session->infer(kSamples, ref.inputs[0].data());
  ASSERT_EQ(all.size(), kSamples * kOut);
  for (std::size_t row = 0; row < kSamples; ++row) {
    const std::vector<float> one = single->infer(ref.inputs[0].data() + row * kIn);
    const std::vector<float> part(all.begin() + static_cast<std::ptrdiff_t>(row * kOut),
                                  all.begin() + static_cast<std::ptrdiff_t>((row + 1) * kOut));
    EXPECT_TRUE(rmodel_test::close_to(part, one)) << "row " << row;
  }
}
