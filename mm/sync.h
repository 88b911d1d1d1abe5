// A test-and-test-and-set spinlock for mm/ (the MMU lock, cache locks).
//
// Acquire on lock and release on unlock are on the lock word itself, so that
// ThreadSanitizer sees the critical sections (it does not model standalone
// fences). Not recursive; the kernel is non-preemptive, so no interrupt or
// preemption state is saved here.
#pragma once

#include <atomic>

namespace hv::mm {

inline void cpu_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class SpinLock {
 public:
  void lock() {
    for (;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) cpu_pause();
    }
  }
  bool try_lock() { return !locked_.load(std::memory_order_relaxed) &&
                           !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() { locked_.store(false, std::memory_order_release); }
  bool is_locked() const { return locked_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> locked_{false};
};

class LockGuard {
 public:
  explicit LockGuard(SpinLock& l) : l_(l) { l_.lock(); }
  ~LockGuard() { l_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  SpinLock& l_;
};

}  // namespace hv::mm
