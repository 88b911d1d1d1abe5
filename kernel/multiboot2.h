// Checked parser for the Multiboot2 boot information structure.
//
// The boot information is produced by code we do not control (the boot
// loader), so it is treated as untrusted input: every length is validated
// against the buffer before it is used, and a malformed structure yields an
// error instead of a fault. The parser never writes to the information and
// never reads outside [info, info + min(total_size, max_size)).
//
// Freestanding: this header and its implementation use only <stdint.h> and
// <stddef.h>, so the same code runs in the kernel and in host unit tests.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv::mb2 {

// Value the boot loader leaves in EAX (Multiboot2 spec, section 3.3).
inline constexpr uint32_t kBootloaderMagic = 0x36d76289;

// The information is a sequence of tags, each starting on this boundary.
inline constexpr size_t kTagAlign = 8;

// Fixed-size output tables: the kernel has no allocator yet when it parses
// the boot information. Overflowing them is an error, because silently
// dropping RAM or a guest image would surface much later as a mystery.
inline constexpr size_t kMaxMemoryRegions = 128;
inline constexpr size_t kMaxModules = 32;

// Tag types we interpret (Multiboot2 spec, section 3.6); others are skipped.
enum class TagType : uint32_t {
  End = 0,
  CommandLine = 1,
  BootLoaderName = 2,
  Module = 3,
  MemoryMap = 6,
  AcpiOldRsdp = 14,  // a copy of the ACPI 1.0 RSDP (20 bytes)
  AcpiNewRsdp = 15,  // a copy of the ACPI 2.0+ RSDP (its length field's bytes, 36 today)
};

// Sizes of the RSDP structure (ACPI 6.5, 5.2.5.3): revision 0 ends after the
// RSDT address; revision 2 adds the length, the XSDT address and a checksum.
inline constexpr size_t kAcpiRsdpV1Size = 20;
inline constexpr size_t kAcpiRsdpV2Size = 36;

// Memory map entry types. The field is kept as the full 32-bit value because
// firmware reports types beyond these; anything but Available is not RAM we
// may use.
enum class MemoryType : uint32_t {
  Available = 1,
  Reserved = 2,
  AcpiReclaimable = 3,
  Nvs = 4,
  Bad = 5,
};

struct MemoryRegion {
  uint64_t base;
  uint64_t length;
  MemoryType type;
};

struct Module {
  uint64_t start;    // physical, inclusive
  uint64_t end;      // physical, exclusive
  const char* name;  // the module's string; NUL-terminated inside the info
};

// The boot loader's copy of the RSDP, inside the boot information. Only its
// size is checked here (the tag holds at least a whole RSDP of its revision);
// signature, checksums and the length field are the ACPI code's to verify.
struct AcpiRsdp {
  const uint8_t* data;  // nullptr if the tag is absent
  size_t size;          // bytes of the tag's body, >= kAcpiRsdpV1Size / V2Size
};

struct BootInfo {
  const char* cmdline;      // "" if the tag is absent
  const char* loader_name;  // "" if the tag is absent
  MemoryRegion regions[kMaxMemoryRegions];
  size_t region_count;
  Module modules[kMaxModules];
  size_t module_count;
  AcpiRsdp acpi_old;  // tag 14
  AcpiRsdp acpi_new;  // tag 15
  size_t total_size;  // bytes covered by the information (reserve them!)
};

// The string pointers in BootInfo point into the boot information itself, so
// that memory must stay mapped and unmodified for as long as they are used.

// Error messages, exposed so callers and tests can compare against them.
namespace error {
inline constexpr char kBadMagic[] = "bad boot loader magic";
inline constexpr char kNullInfo[] = "null boot information pointer";
inline constexpr char kBufferTooSmall[] = "buffer smaller than the fixed header";
inline constexpr char kTotalSizeTooSmall[] = "total_size smaller than header plus end tag";
inline constexpr char kTotalSizeTooLarge[] = "total_size larger than the readable buffer";
inline constexpr char kTotalSizeUnaligned[] = "total_size not a multiple of 8";
inline constexpr char kTagTooSmall[] = "tag size smaller than the tag header";
inline constexpr char kTagPastEnd[] = "tag runs past total_size";
inline constexpr char kBadEndTag[] = "end tag size is not 8";
inline constexpr char kMissingEndTag[] = "missing end tag";
inline constexpr char kCmdlineUnterminated[] = "command line not NUL-terminated";
inline constexpr char kLoaderNameUnterminated[] = "boot loader name not NUL-terminated";
inline constexpr char kDuplicateCmdline[] = "duplicate command line tag";
inline constexpr char kDuplicateLoaderName[] = "duplicate boot loader name tag";
inline constexpr char kModuleTooSmall[] = "module tag smaller than its header";
inline constexpr char kModuleNameUnterminated[] = "module string not NUL-terminated";
inline constexpr char kModuleStartAfterEnd[] = "module start beyond its end";
inline constexpr char kTooManyModules[] = "too many modules";
inline constexpr char kMmapTooSmall[] = "memory map tag smaller than its header";
inline constexpr char kMmapEntrySizeTooSmall[] = "memory map entry_size smaller than 24";
inline constexpr char kMmapEntrySizeUnaligned[] = "memory map entry_size not a multiple of 8";
inline constexpr char kMmapPartialEntry[] = "memory map body not a whole number of entries";
inline constexpr char kDuplicateMmap[] = "duplicate memory map tag";
inline constexpr char kTooManyRegions[] = "too many memory regions";
inline constexpr char kNoMemoryMap[] = "no memory map";
inline constexpr char kAcpiOldTooSmall[] = "ACPI old RSDP tag smaller than a 20-byte RSDP";
inline constexpr char kAcpiNewTooSmall[] = "ACPI new RSDP tag smaller than a 36-byte RSDP";
inline constexpr char kDuplicateAcpiOld[] = "duplicate ACPI old RSDP tag";
inline constexpr char kDuplicateAcpiNew[] = "duplicate ACPI new RSDP tag";
}  // namespace error

struct ParseError {
  const char* what;  // nullptr on success, else one of hv::mb2::error::*
  size_t offset;     // byte offset (from the start of the info) of the bad tag;
                     // 0 for problems with the fixed header

  constexpr bool ok() const { return what == nullptr; }
};

// Parses the boot information at `info`, of which at most `max_size` bytes may
// be read (pass the size of the mapping that holds it). On success `out`
// describes the information; on failure its contents are unspecified and must
// not be used. `info` need not be aligned.
ParseError parse(uint32_t magic, const void* info, size_t max_size, BootInfo& out);

// The module whose string is exactly `name`, or nullptr.
const Module* find_module(const BootInfo& info, const char* name);

}  // namespace hv::mb2
