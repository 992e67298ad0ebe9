// Checks rmodel's C-simulation hls::stream (emitters/hls/cpp/rmodel_stream.h) as a FIFO: values
// held in the stream object and those past its in-place storage come out in order, size() and
// empty() follow, and every value is destroyed once. Prints "ok" or the first failure.
#include <cstdio>
#include <cstdlib>

#include "rmodel_stream.h"

namespace {

int live = 0;  // Counted objects alive

struct Counted {  // a value with a non-trivial copy and destructor
  int value = 0;
  explicit Counted(int v = 0) : value(v) { ++live; }
  Counted(const Counted& o) : value(o.value) { ++live; }
  Counted& operator=(const Counted& o) {
    value = o.value;
    return *this;
  }
  ~Counted() { --live; }
};

struct Word {  // a packed io_stream word of 96 bytes
  long data[12];
};

void fail(const char* what, long step) {
  std::printf("FAIL %s at %ld\n", what, step);
  std::exit(1);
}

template <typename T, typename Make, typename Value>
void check_fifo(Make make, Value value_of) {
  hls::stream<T> s("checked");
  long written = 0, read = 0;
  auto write = [&](long n) {
    for (long i = 0; i < n; ++i) s.write(make(written++));
  };
  auto take = [&](long n) {
    for (long i = 0; i < n; ++i) {
      if (value_of(s.read()) != read) fail("order", read);
      ++read;
    }
  };
  // bursts larger and smaller than the in-place storage, interleaved
  const long bursts[][2] = {{1, 1}, {3000, 1000}, {10, 2000}, {5000, 5000}, {7, 3}, {1, 5}, {200, 100}, {0, 110}};
  for (const auto& b : bursts) {
    write(b[0]);
    if (static_cast<long>(s.size()) != written - read) fail("size after write", written);
    take(b[1]);
    if (static_cast<long>(s.size()) != written - read) fail("size after read", read);
  }
  for (long i = 0; i < 10000; ++i) {  // one in, one out
    write(1);
    take(1);
  }
  if (!s.empty()) fail("empty", read);
  T spare = make(0);
  if (s.read_nb(spare)) fail("read_nb on an empty stream", read);
  write(50);  // left in the stream: destroyed with it
}

}  // namespace

int main() {
  check_fifo<int>([](long i) { return static_cast<int>(i); }, [](int v) { return static_cast<long>(v); });
  check_fifo<Word>(
      [](long i) {
        Word w{};
        w.data[0] = i;
        w.data[11] = -i;
        return w;
      },
      [](const Word& w) { return w.data[11] == -w.data[0] ? w.data[0] : -1; });
  check_fifo<Counted>([](long i) { return Counted(static_cast<int>(i)); }, [](const Counted& c) { return static_cast<long>(c.value); });
  if (live != 0) fail("objects left alive", live);
  std::printf("ok\n");
  return 0;
}
