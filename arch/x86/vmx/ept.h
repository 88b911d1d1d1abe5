// A guest's EPT paging structures (Intel SDM Vol. 3C, 29.3), in their first,
// simple form: four levels, 4 KiB leaves created one at a time on EPT
// violations, torn down whole with the guest. The lockless MMU core of mm/
// replaces this when the kernel adopts it (issue 4).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv::mm {
class FrameAllocator;
}

namespace hv::vmx {

// EPT paging-structure entry bits (Intel SDM Vol. 3C, Tables 29-1..29-6).
namespace ept {
inline constexpr uint64_t READ = 1ull << 0, WRITE = 1ull << 1, EXECUTE = 1ull << 2;
inline constexpr unsigned MEMORY_TYPE_SHIFT = 3;  // leaves only
inline constexpr uint64_t MEMORY_TYPE_WB = 6ull << MEMORY_TYPE_SHIFT;
inline constexpr uint64_t IGNORE_PAT = 1ull << 6, LARGE_PAGE = 1ull << 7;
inline constexpr uint64_t ADDRESS_MASK = 0x000ffffffffff000ull;
inline constexpr uint64_t RWX = READ | WRITE | EXECUTE;
// EPTP (Intel SDM Vol. 3C, 25.6.11): memory type of the tables, walk length - 1.
inline constexpr uint64_t EPTP_MEMORY_TYPE_WB = 6, EPTP_WALK_LENGTH_4 = 3ull << 3;
}  // namespace ept

// Exit qualification of an EPT violation (Intel SDM Vol. 3C, Table 28-7).
namespace ept_violation {
inline constexpr uint64_t READ = 1ull << 0, WRITE = 1ull << 1, FETCH = 1ull << 2;
inline constexpr uint64_t READABLE = 1ull << 3, WRITABLE = 1ull << 4, EXECUTABLE = 1ull << 5;
inline constexpr uint64_t LINEAR_ADDRESS_VALID = 1ull << 7;
}  // namespace ept_violation

// Guest-physical addresses this EPT can map: 4 levels, 48 bits.
inline constexpr uint64_t kEptMaxGpa = 1ull << 48;

class Ept {
public:
    explicit Ept(mm::FrameAllocator& frames) : frames_(frames) {}
    Ept(const Ept&) = delete;
    Ept& operator=(const Ept&) = delete;

    // Allocates the root table; false when no frame is left.
    bool init();
    // Frees every table. The caller has already made sure no CPU can use a
    // stale translation of this EPTP (INVEPT after the last entry).
    void destroy();

    uint64_t eptp() const { return root_ | ept::EPTP_MEMORY_TYPE_WB | ept::EPTP_WALK_LENGTH_4; }

    // Maps the 4 KiB guest frame at gpa to hpa with the permissions `rwx`
    // (READ, READ|WRITE, READ|EXECUTE or RWX: never write without read, which
    // would be a misconfiguration), write-back. False when a table frame
    // cannot be allocated or gpa is out of range.
    bool map_4k(uint64_t gpa, uint64_t hpa, uint64_t rwx = ept::RWX);

    // Visits every present leaf: fn(gpa, entry). Returns the number visited.
    template <class Fn>
    size_t for_each_leaf(Fn fn) const {
        return walk(root_, 4, 0, fn);
    }

    size_t table_frames() const { return tables_; }

private:
    uint64_t* table(uint64_t pa) const;
    template <class Fn>
    size_t walk(uint64_t table_pa, int level, uint64_t base, Fn& fn) const {
        size_t n = 0;
        const uint64_t* t = table(table_pa);
        for (unsigned i = 0; i < 512; ++i) {
            if (!(t[i] & ept::RWX)) continue;
            uint64_t gpa = base | (uint64_t(i) << (12 + 9 * (level - 1)));
            if (level == 1) {
                fn(gpa, t[i]);
                ++n;
            } else {
                n += walk(t[i] & ept::ADDRESS_MASK, level - 1, gpa, fn);
            }
        }
        return n;
    }
    void free_tables(uint64_t table_pa, int level);

    mm::FrameAllocator& frames_;
    uint64_t root_ = 0;
    size_t tables_ = 0;
};

}  // namespace hv::vmx
