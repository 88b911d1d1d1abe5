#include "arch/x86/vmx/ept.h"

#include "arch/x86/paging.h"
#include "mm/frame_allocator.h"

namespace hv::vmx {

uint64_t* Ept::table(uint64_t pa) const { return x86::phys_to_virt<uint64_t>(pa); }

bool Ept::init() {
    root_ = frames_.alloc();
    if (!root_) return false;
    tables_ = 1;
    uint64_t* t = table(root_);
    for (int i = 0; i < 512; ++i) t[i] = 0;
    return true;
}

bool Ept::map_4k(uint64_t gpa, uint64_t hpa, uint64_t rwx) {
    if (gpa >= kEptMaxGpa || !(rwx & ept::READ) || (rwx & ~ept::RWX)) return false;
    uint64_t pa = root_;
    for (int level = 4; level > 1; --level) {
        uint64_t& e = table(pa)[(gpa >> (12 + 9 * (level - 1))) & 511];
        if (!(e & ept::RWX)) {
            uint64_t child = frames_.alloc();
            if (!child) return false;
            ++tables_;
            uint64_t* t = table(child);
            for (int i = 0; i < 512; ++i) t[i] = 0;
            // Non-leaf entries grant everything; the leaf decides.
            e = child | ept::RWX;
        }
        pa = e & ept::ADDRESS_MASK;
    }
    table(pa)[(gpa >> 12) & 511] = (hpa & ept::ADDRESS_MASK) | rwx | ept::MEMORY_TYPE_WB;
    return true;
}

void Ept::free_tables(uint64_t table_pa, int level) {
    if (level > 1) {
        const uint64_t* t = table(table_pa);
        for (int i = 0; i < 512; ++i)
            if (t[i] & ept::RWX) free_tables(t[i] & ept::ADDRESS_MASK, level - 1);
    }
    frames_.free(table_pa);
}

void Ept::destroy() {
    if (root_) free_tables(root_, 4);
    root_ = 0;
    tables_ = 0;
}

}  // namespace hv::vmx
