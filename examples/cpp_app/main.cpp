// jet_app: classify one jet with the generated model.
//
// Reads jet::kInputSize numbers (whitespace separated) from the file given as the first argument,
// or from standard input, and prints the model's output, one value per line.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <vector>

#include "jet_model.hxx"

int main(int argc, char** argv) {
  std::ifstream file;
  if (argc > 1) {
    file.open(argv[1]);
    if (!file) {
      std::fprintf(stderr, "jet_app: cannot open '%s'\n", argv[1]);
      return 1;
    }
  }
  std::istream& in = argc > 1 ? static_cast<std::istream&>(file) : std::cin;

  std::vector<float> features(jet::kInputSize);
  for (std::size_t i = 0; i < features.size(); ++i) {
    if (!(in >> features[i])) {
      std::fprintf(stderr, "jet_app: expected %zu input values, could read only %zu\n", features.size(), i);
      return 1;
    }
  }

  jet::Session session;  // holds the scratch memory; make one per thread
  std::vector<float> probabilities(jet::kOutputSize);
  session.infer(features.data(), probabilities.data());  // no allocation in here

  std::printf("# %s\n", jet::kOutputNames[0]);
  for (float p : probabilities) std::printf("%.9g\n", static_cast<double>(p));
  return 0;
}
