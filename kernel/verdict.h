// How a run speaks and ends (kvm-unit-tests' habit): PASS:/FAIL:/SKIP: lines,
// a SUMMARY line, and one final RESULT line; then the emulator is ended.
// The harness takes the verdict from these lines, never from the emulator's
// exit status (Bochs always exits 1).
#pragma once

namespace hv {

void report_pass(const char* name, const char* fmt = nullptr, ...) __attribute__((format(printf, 2, 3)));
void report_fail(const char* name, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void report_skip(const char* name, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Prints SUMMARY and RESULT: PASS, or RESULT: FAIL naming the first failure.
[[noreturn]] void end_run();
// Ends at once with RESULT: FAIL <reason> (panics, fatal exceptions).
[[noreturn]] void end_run_fail(const char* reason);
// Ends with RESULT: SKIP <reason> and the distinct status (no VMX).
[[noreturn]] void end_run_skip(const char* reason);

}  // namespace hv
