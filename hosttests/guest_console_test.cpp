// Specification of a guest's console (kernel/guest_console.h): lines with the
// guest's name, control characters shown not obeyed, and a guest OS's panic
// line found wherever the line buffer splits it.
#include "kernel/guest_console.h"

#include <gtest/gtest.h>

#include <cstdarg>
#include <cstdio>
#include <string>

namespace hv {

std::string printed;  // what the console printed, for the tests
void print(const char* fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printed += buf;
}

namespace {

void write(GuestConsole& c, const std::string& s) {
    for (char ch : s) c.put(ch);
}

TEST(GuestConsole, LinesCarryTheGuestsNameAndControlCharactersAreShown) {
    printed.clear();
    GuestConsole c("linux");
    write(c, "hello\x1b[2J\r\nworld\n");
    EXPECT_EQ(printed, "[linux] hello?[2J\n[linux] world\n");
    EXPECT_EQ(c.panic(), nullptr);
}

TEST(GuestConsole, APanicLineIsFoundWithItsReason) {
    printed.clear();
    GuestConsole c("linux");
    write(c, "[    2.5] Kernel panic - not syncing: VFS: Unable to mount root fs\n");
    ASSERT_NE(c.panic(), nullptr);
    EXPECT_STREQ(c.panic(), "VFS: Unable to mount root fs");
}

// The review's case: 150 characters, then the marker, which the 160-byte
// line buffer splits; it was missed and the panicked guest ran on.
TEST(GuestConsole, APanicSplitByTheLineBufferIsFoundToo) {
    printed.clear();
    GuestConsole c("linux");
    write(c, std::string(150, 'x') + "Kernel panic - not syncing: split\n");
    ASSERT_NE(c.panic(), nullptr);
    EXPECT_STREQ(c.panic(), "split");
}

TEST(GuestConsole, NoPanicUntilTheLineEndsAndNoneForANearMiss) {
    printed.clear();
    GuestConsole c("linux");
    write(c, "Kernel panic - not synced: no\nKernel Kernel panic - not syncing: late");
    EXPECT_EQ(c.panic(), nullptr) << "the reason is still coming";
    write(c, "\n");
    ASSERT_NE(c.panic(), nullptr);
    EXPECT_STREQ(c.panic(), "late");
}

}  // namespace
}  // namespace hv
