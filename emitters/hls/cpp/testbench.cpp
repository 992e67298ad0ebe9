// The fixed part of the HLS test bench (emitters/hls/project.py writes the rest per model).
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

// the next line of values of a data file, skipping empty lines and # comments; false at the end
// of the file, exit(2) on a line of the wrong length
// rmodel:begin read_line
static bool read_line(std::ifstream& file, std::vector<float>& values, std::size_t expected) {
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream text(line);
    values.clear();
    float v;
    while (text >> v) values.push_back(v);
    if (values.size() != expected) {
      std::fprintf(stderr, "expected %zu values per line, got %zu\n", expected, values.size());
      std::exit(2);
    }
    return true;
  }
  return false;
}
// rmodel:end read_line

// a stand-in for the generated main: counts the lines of three values in the file given
int main(int argc, char** argv) {
  if (argc < 2) return 2;
  std::ifstream file(argv[1]);
  std::vector<float> values;
  int lines = 0;
  while (read_line(file, values, 3)) ++lines;
  std::printf("%d lines\n", lines);
  return 0;
}
