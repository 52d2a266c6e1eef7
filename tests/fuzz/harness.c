/* Fuzz harness: runs a generated artifact's packed entry point on a few input patterns
 * (zeros, a ramp, extremes) under AddressSanitizer/UBSan. Built by tests/test_fuzz.py with
 * -DEO_HEADER="name.h" -DEO_RUN=name_run -DEO_RESET=name_reset -DEO_IN=... -DEO_OUT=... */
#include <stdint.h>
#include <string.h>

#include EO_HEADER

static uint32_t eo_in[EO_IN / 4];
static uint32_t eo_out[EO_OUT / 4];

int main(void)
{
    uint8_t *const bytes = (uint8_t *)eo_in;
    int32_t pattern, i;
    EO_RESET();
    for (pattern = 0; pattern < 3; ++pattern) {
        for (i = 0; i < (int32_t)sizeof(eo_in); ++i) {
            bytes[i] = (uint8_t)(pattern == 0 ? 0 : (pattern == 1 ? i * 37 : (i % 4 == 3 ? 0x7f : 0xff)));
        }
        if (EO_RUN(eo_in, eo_out) != EO_OK) {
            return 1;
        }
    }
    return 0;
}
