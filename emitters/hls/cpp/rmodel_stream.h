// Written whole as firmware/rmodel_stream.h of every HLS project (emitters/hls/headers.py): a
// C-simulation hls::stream used when Vitis HLS (and its hls_stream.h) is not installed.
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
// rmodel:begin rmodel_stream
// rmodel's C-simulation stand-in for hls_stream.h (used when Vitis HLS is not installed).
// Only for simulation with a C++ compiler: synthesis uses Xilinx's hls_stream.h.
#ifndef RMODEL_STREAM_H
#define RMODEL_STREAM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

namespace hls {

template <typename T>
class stream {
 public:
  stream() : name_("stream") {}
  explicit stream(const char* name) : name_(name) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream() {
    while (head_ < tail_) held(head_++)->~T();
  }

  bool empty() const { return size() == 0; }
  bool full() const { return false; }
  std::size_t size() const { return tail_ - head_ + rest_.size() - next_; }

  void write(const T& value) {
    if (rest_.empty() && tail_ < kHeld) {
      new (held(tail_++)) T(value);
    } else {
      rest_.push_back(value);
    }
  }
  bool write_nb(const T& value) {
    write(value);
    return true;
  }
  T read() {
    if (head_ < tail_) {
      T* oldest = held(head_++);
      const T value = *oldest;
      oldest->~T();
      if (head_ == tail_ && rest_.empty()) head_ = tail_ = 0;  // drained: start over
      return value;
    }
    if (next_ == rest_.size()) {
      std::fprintf(stderr, "hls::stream '%s': read while empty (the dataflow would deadlock)\n", name_);
      std::abort();
    }
    const T value = rest_[next_++];
    if (next_ == rest_.size()) {  // drained: start over (the capacity stays)
      rest_.clear();
      next_ = 0;
      head_ = tail_ = 0;
    }
    return value;
  }
  void read(T& value) { value = read(); }
  bool read_nb(T& value) {
    if (empty()) return false;
    value = read();
    return true;
  }
  void operator<<(const T& value) { write(value); }
  void operator>>(T& value) { value = read(); }

 private:
  //: values held in the stream object itself (about 4 KiB): the streams between the stages of one
  //: call never allocate unless a call moves more than that through one of them
  static constexpr std::size_t kHeld = sizeof(T) < 4096 / 4 ? 4096 / sizeof(T) : 4;
  T* held(std::size_t i) { return reinterpret_cast<T*>(storage_) + i; }

  const char* name_;  // a string literal of the generated code
  alignas(T) unsigned char storage_[kHeld * sizeof(T)];  // values [head_, tail_) are constructed
  std::size_t head_ = 0, tail_ = 0;
  std::vector<T> rest_;  // the values after those (once storage_ is full), from index next_
  std::size_t next_ = 0;
};

}  // namespace hls

#endif  // RMODEL_STREAM_H
// rmodel:end rmodel_stream
