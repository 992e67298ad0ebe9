// The same model generated at batch 1 (namespace mlp) and batch 4 (namespace mlp_b4), both
// headers included in this translation unit and in their own: namespaces and inline weight
// definitions must not clash, and each batch-4 row must equal a batch-1 run on that row.
#include "rmodel_test.hpp"
#include "rmodel_test_mlp.hxx"
#include "rmodel_test_mlp_b4.hxx"

static_assert(mlp::kBatchSize == 1 && mlp_b4::kBatchSize == 4, "batch sizes");
static_assert(mlp_b4::kInputSize == 4 * mlp::kInputSize && mlp_b4::kOutputSize == 4 * mlp::kOutputSize,
              "batch-4 tensors hold four rows");

TEST(BatchVariants, RowsOfBatchFourMatchBatchOne) {
  std::vector<float> input(mlp_b4::kInputSize);
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>((i * 37 % 101) / 50.0 - 1.0);
  auto batch4 = std::make_unique<mlp_b4::Session>();
  auto single = std::make_unique<mlp::Session>();
  const std::vector<float> all = batch4->infer(input.data());
  for (std::size_t row = 0; row < 4; ++row) {
    const std::vector<float> one = single->infer(input.data() + row * mlp::kInputSize);
    const std::vector<float> part(all.begin() + static_cast<std::ptrdiff_t>(row * mlp::kOutputSize),
                                  all.begin() + static_cast<std::ptrdiff_t>((row + 1) * mlp::kOutputSize));
    EXPECT_TRUE(rmodel_test::close_to(part, one)) << "row " << row;
  }
}
