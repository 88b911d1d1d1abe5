#include "kernel/console.h"

#include "arch/x86/serial.h"
#include "kernel/spinlock.h"

namespace hv {
namespace {

SpinLock console_lock;
LogLevel current_level = LogLevel::Info;

}  // namespace

void console_init() { x86::serial::init(); }
void set_log_level(LogLevel level) { current_level = level; }
LogLevel log_level() { return current_level; }

void write_raw(const char* s, size_t n) {
    LockGuard g(console_lock);
    x86::serial::write(s, n);
}

// Never truncate silently: an over-long line says so on itself.
static size_t mark_cut(char* line, size_t size, size_t n) {
    if (n < size) return n;
    static constexpr char kCut[] = "...[cut]\n";
    for (size_t i = 0; i < sizeof kCut; ++i) line[size - sizeof kCut + i] = kCut[i];
    return size - 1;
}

void vprint(const char* fmt, va_list ap) {
    char line[512];
    size_t n = mark_cut(line, sizeof line, vformat(line, sizeof line, fmt, ap));
    write_raw(line, n);
}

void print(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint(fmt, ap);
    va_end(ap);
}

void log(LogLevel level, const char* fmt, ...) {
    if (level > current_level) return;
    static const char* const kPrefix[] = {"error: ", "warn: ", "", "debug: "};
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    size_t p = format(line, sizeof line, "%s", kPrefix[int(level)]);
    size_t n = mark_cut(line, sizeof line, p + vformat(line + p, sizeof line - p, fmt, ap));
    va_end(ap);
    write_raw(line, n);
}

}  // namespace hv
