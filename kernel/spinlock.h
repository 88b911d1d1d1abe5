// A test-and-test-and-set spinlock with an RAII guard. Acquire on lock and
// release on unlock make the critical sections of successive holders ordered.
#pragma once

#include <stdint.h>

namespace hv {

class SpinLock {
public:
    void lock() {
        while (__atomic_exchange_n(&locked_, 1, __ATOMIC_ACQUIRE)) {
            while (__atomic_load_n(&locked_, __ATOMIC_RELAXED)) __builtin_ia32_pause();
        }
    }
    void unlock() { __atomic_store_n(&locked_, 0, __ATOMIC_RELEASE); }

private:
    uint32_t locked_ = 0;
};

class LockGuard {
public:
    explicit LockGuard(SpinLock& l) : lock_(l) { lock_.lock(); }
    ~LockGuard() { lock_.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

private:
    SpinLock& lock_;
};

}  // namespace hv
