// rmodel's C-simulation stand-in for hls_stream.h (used when Vitis HLS is not installed).
// Only for simulation with a C++ compiler: synthesis uses Xilinx's hls_stream.h.
#ifndef RMODEL_STREAM_H
#define RMODEL_STREAM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

namespace hls {

template <typename T>
class stream {
 public:
  stream() : name_("stream") {}
  explicit stream(const char* name) : name_(name) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  bool empty() const { return data_.empty(); }
  bool full() const { return false; }
  std::size_t size() const { return data_.size(); }

  void write(const T& value) { data_.push_back(value); }
  bool write_nb(const T& value) {
    write(value);
    return true;
  }
  T read() {
    if (data_.empty()) {
      std::fprintf(stderr, "hls::stream '%s': read while empty (the dataflow would deadlock)\n", name_.c_str());
      std::abort();
    }
    T value = data_.front();
    data_.pop_front();
    return value;
  }
  void read(T& value) { value = read(); }
  bool read_nb(T& value) {
    if (data_.empty()) return false;
    value = read();
    return true;
  }
  void operator<<(const T& value) { write(value); }
  void operator>>(T& value) { value = read(); }

 private:
  std::string name_;
  std::deque<T> data_;
};

}  // namespace hls

#endif  // RMODEL_STREAM_H
