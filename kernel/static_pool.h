// Fixed storage for up to N objects of T, constructed in place: the kernel
// allocates nothing behind the caller's back, and a full pool is an error
// the caller reports.
#pragma once

#include <stddef.h>

#include <new>
#include <utility>

namespace hv {

template <class T, size_t N>
class StaticPool {
public:
    template <class... Args>
    T* create(Args&&... args) {
        for (size_t i = 0; i < N; ++i)
            if (!used_[i]) {
                used_[i] = true;
                return new (slots_[i]) T(std::forward<Args>(args)...);
            }
        return nullptr;
    }

    void destroy(T* t) {
        for (size_t i = 0; i < N; ++i)
            if (used_[i] && reinterpret_cast<T*>(slots_[i]) == t) {
                t->~T();
                used_[i] = false;
                return;
            }
    }

private:
    alignas(T) unsigned char slots_[N][sizeof(T)];
    bool used_[N] = {};
};

}  // namespace hv
