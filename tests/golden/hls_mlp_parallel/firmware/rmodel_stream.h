// rmodel's C-simulation stand-in for hls_stream.h (used when Vitis HLS is not installed).
// Only for simulation with a C++ compiler: synthesis uses Xilinx's hls_stream.h.
#ifndef RMODEL_STREAM_H
#define RMODEL_STREAM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace hls {

template <typename T>
class stream {
 public:
  stream() : name_("stream") {}
  explicit stream(const char* name) : name_(name) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  bool empty() const { return !held_; }
  bool full() const { return false; }
  std::size_t size() const { return (held_ ? 1 : 0) + rest_.size() - next_; }

  void write(const T& value) {
    if (held_) {
      if (rest_.capacity() == 0) rest_.reserve(sizeof(T) < 256 ? 4096 / sizeof(T) : 16);
      rest_.push_back(value);
    } else {
      first_ = value;
      held_ = true;
    }
  }
  bool write_nb(const T& value) {
    write(value);
    return true;
  }
  T read() {
    if (!held_) {
      std::fprintf(stderr, "hls::stream '%s': read while empty (the dataflow would deadlock)\n", name_);
      std::abort();
    }
    const T value = first_;
    held_ = next_ < rest_.size();
    if (held_) {
      first_ = rest_[next_++];
      if (next_ == rest_.size()) {  // drained: start over (the capacity stays)
        rest_.clear();
        next_ = 0;
      }
    }
    return value;
  }
  void read(T& value) { value = read(); }
  bool read_nb(T& value) {
    if (!held_) return false;
    value = read();
    return true;
  }
  void operator<<(const T& value) { write(value); }
  void operator>>(T& value) { value = read(); }

 private:
  const char* name_;  // a string literal of the generated code
  // the oldest value is held here, the newer ones in rest_ from index next_: a stream that never
  // holds more than one value (the words of a packed io_stream between whole-vector stages) never
  // allocates
  T first_{};
  bool held_ = false;
  std::vector<T> rest_;
  std::size_t next_ = 0;
};

}  // namespace hls

#endif  // RMODEL_STREAM_H
