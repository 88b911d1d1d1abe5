#include "kernel/verdict.h"

#include <stdarg.h>

#include "arch/x86/cpu.h"
#include "arch/x86/serial.h"
#include "kernel/console.h"

namespace hv {
namespace {

// QEMU's isa-debug-exit (iobase 0xf4) exits with status (value << 1) | 1;
// Bochs ends at once when "Shutdown" is written to port 0x8900. On real
// hardware both ports are unused and the CPU halts with the console intact.
enum class ExitCode : uint8_t { Pass = 0, Fail = 1, Skip = 2 };
constexpr uint16_t kQemuDebugExit = 0xf4;
constexpr uint16_t kBochsShutdown = 0x8900;

unsigned tests, failures;
char first_failure[160];

[[noreturn]] void leave(ExitCode code) {
    x86::serial::drain();
    x86::outb(kQemuDebugExit, uint8_t(code));
    for (const char* p = "Shutdown"; *p; ++p) x86::outb(kBochsShutdown, uint8_t(*p));
    x86::halt_forever();
}

void report(const char* tag, const char* name, const char* fmt, va_list ap) {
    char why[320] = "";
    if (fmt) vformat(why, sizeof why, fmt, ap);
    print("%s: %s%s%s\n", tag, name, why[0] ? ": " : "", why);
}

}  // namespace

void report_pass(const char* name, const char* fmt, ...) {
    ++tests;
    va_list ap;
    va_start(ap, fmt);
    report("PASS", name, fmt, ap);
    va_end(ap);
}

void report_fail(const char* name, const char* fmt, ...) {
    ++tests;
    if (failures++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        size_t n = format(first_failure, sizeof first_failure, "%s: ", name);
        if (n < sizeof first_failure) vformat(first_failure + n, sizeof first_failure - n, fmt, ap);
        va_end(ap);
    }
    va_list ap;
    va_start(ap, fmt);
    report("FAIL", name, fmt, ap);
    va_end(ap);
}

void report_skip(const char* name, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report("SKIP", name, fmt, ap);
    va_end(ap);
}

void end_run() {
    print("SUMMARY: %u tests, %u unexpected failures\n", tests, failures);
    if (tests == 0) {
        print("RESULT: FAIL no tests ran\n");
        leave(ExitCode::Fail);
    }
    if (failures) {
        print("RESULT: FAIL %s\n", first_failure);
        leave(ExitCode::Fail);
    }
    print("RESULT: PASS\n");
    leave(ExitCode::Pass);
}

void end_run_fail(const char* reason) {
    print("SUMMARY: %u tests, %u unexpected failures\n", tests, failures + 1);
    print("RESULT: FAIL %s\n", reason);
    leave(ExitCode::Fail);
}

void end_run_skip(const char* reason) {
    print("SUMMARY: %u tests, %u unexpected failures\n", tests, failures);
    print("RESULT: SKIP %s\n", reason);
    leave(ExitCode::Skip);
}

}  // namespace hv
