/* edgeopt's on-target test assertions. Unity is not obtainable offline, so this header
 * prints Unity-format result lines ("file:line:name:PASS|FAIL: message" and the
 * "N Tests M Failures 0 Ignored" summary) that PlatformIO's test runner parses.
 * The board provides eo_board_print(). */
#ifndef EO_TEST_H
#define EO_TEST_H

#include <stdint.h>

void eo_board_print(const char *text);

static int32_t eo_test_count;
static int32_t eo_test_failures;
static int32_t eo_test_failed_now;

static void eo_test_print_int(int32_t value)
{
    char digits[12];
    int32_t n = 0;
    uint32_t v = value < 0 ? (uint32_t)(-(value + 1)) + 1u : (uint32_t)value;
    char out[14];
    int32_t i = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    if (value < 0) {
        out[i++] = '-';
    }
    while (n) {
        out[i++] = digits[--n];
    }
    out[i] = '\0';
    eo_board_print(out);
}

static void eo_test_fail(const char *file, int32_t line, const char *name, const char *message)
{
    if (!eo_test_failed_now) {
        eo_board_print(file);
        eo_board_print(":");
        eo_test_print_int(line);
        eo_board_print(":");
        eo_board_print(name);
        eo_board_print(":FAIL: ");
        eo_board_print(message);
        eo_board_print("\n");
    }
    eo_test_failed_now = 1;
}

#define EO_TEST_BEGIN() (eo_test_count = 0, eo_test_failures = 0)

#define EO_RUN_TEST(fn)                                   \
    do {                                                  \
        eo_test_failed_now = 0;                           \
        ++eo_test_count;                                  \
        fn();                                             \
        if (eo_test_failed_now) {                         \
            ++eo_test_failures;                           \
        } else {                                          \
            eo_board_print(__FILE__ ":");                 \
            eo_test_print_int(__LINE__);                  \
            eo_board_print(":" #fn ":PASS\n");            \
        }                                                 \
    } while (0)

#define EO_TEST_ASSERT(cond, name, message)                         \
    do {                                                            \
        if (!(cond)) {                                              \
            eo_test_fail(__FILE__, __LINE__, name, message);        \
        }                                                           \
    } while (0)

/* |actual - expected| <= atol + rtol * |expected| */
#define EO_TEST_ASSERT_CLOSE(expected, actual, rtol, atol, name)                            \
    do {                                                                                    \
        const float e_ = (expected), a_ = (actual);                                         \
        const float d_ = e_ > a_ ? e_ - a_ : a_ - e_;                                       \
        const float m_ = e_ < 0.0f ? -e_ : e_;                                              \
        EO_TEST_ASSERT(d_ <= (atol) + (rtol) * m_, name, "output differs from the reference"); \
    } while (0)

static int eo_test_end(void)
{
    eo_board_print("-----------------------\n");
    eo_test_print_int(eo_test_count);
    eo_board_print(" Tests ");
    eo_test_print_int(eo_test_failures);
    eo_board_print(" Failures 0 Ignored\n");
    eo_board_print(eo_test_failures ? "FAIL\n" : "OK\n");
    return 0; /* PlatformIO reads the verdict from the lines above */
}

#define EO_TEST_END() eo_test_end()

#endif /* EO_TEST_H */
