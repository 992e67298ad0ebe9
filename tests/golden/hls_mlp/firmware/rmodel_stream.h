// rmodel's C-simulation stand-in for hls_stream.h (used when Vitis HLS is not installed).
// Only for simulation with a C++ compiler: synthesis uses Xilinx's hls_stream.h.
#ifndef RMODEL_STREAM_H
#define RMODEL_STREAM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

namespace hls {

namespace rmodel_spill {

//: the values of a stream past its in-place storage: a std::vector in general, and for trivially
//: copyable values (all of rmodel's fast C simulation) an array grown with realloc, which the
//: compiler knows touches no other memory (the stage loops around write() keep their state in
//: registers; operator new could touch anything)
template <typename T, bool Trivial = std::is_trivially_copyable<T>::value>
class spilled {
 public:
  void push(const T& value) { values_.push_back(value); }
  const T& operator[](std::size_t i) const { return values_[i]; }
  std::size_t size() const { return values_.size(); }
  bool empty() const { return values_.empty(); }
  void clear() { values_.clear(); }

 private:
  std::vector<T> values_;
};

template <typename T>
class spilled<T, true> {
 public:
  spilled() = default;
  spilled(const spilled&) = delete;
  spilled& operator=(const spilled&) = delete;
  ~spilled() { std::free(values_); }

  void push(const T& value) {
    if (size_ == capacity_) grow();
    std::memcpy(static_cast<void*>(values_ + size_++), &value, sizeof(T));
  }
  const T& operator[](std::size_t i) const { return values_[i]; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }

 private:
  void grow() {
    const std::size_t capacity = capacity_ ? 2 * capacity_ : 64;
    void* grown = capacity <= static_cast<std::size_t>(-1) / sizeof(T) / 2
                      ? std::realloc(static_cast<void*>(values_), capacity * sizeof(T))
                      : nullptr;
    if (grown == nullptr) std::abort();  // out of memory (abort alone: no call that could touch other memory)
    values_ = static_cast<T*>(grown);
    capacity_ = capacity;
  }

  T* values_ = nullptr;
  std::size_t size_ = 0, capacity_ = 0;
};

}  // namespace rmodel_spill

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
      rest_.push(value);
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
  rmodel_spill::spilled<T> rest_;  // the values after those (once storage_ is full), from index next_
  std::size_t next_ = 0;
};

}  // namespace hls

#endif  // RMODEL_STREAM_H
