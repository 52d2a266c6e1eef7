/* Startup, fault reporting and semihosting for edgeopt's QEMU boards; the timer and the UART
 * of each board are in eo_qemu_board.c. */
#include "eo_qemu.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
int main(void);

#define EO_STACK_PAINT 0xC0FFEE11u
#define EO_CPACR (*(volatile uint32_t *)0xE000ED88u)

static int32_t eo_semihost(int32_t op, const void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* GCC would turn this loop into a call of newlib's strlen (220 B, 64-byte aligned) */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static uint32_t eo_strlen(const char *text)
{
    uint32_t n = 0;
    while (text[n]) {
        ++n;
    }
    return n;
}

int32_t eo_sh_open(const char *path, int32_t mode)
{
    const uint32_t block[3] = {(uint32_t)path, (uint32_t)mode, eo_strlen(path)};
    return eo_semihost(0x01, block);
}

int32_t eo_sh_read(int32_t handle, void *buffer, int32_t length)
{
    const uint32_t block[3] = {(uint32_t)handle, (uint32_t)buffer, (uint32_t)length};
    return length - eo_semihost(0x06, block);
}

int32_t eo_sh_write(int32_t handle, const void *buffer, int32_t length)
{
    const uint32_t block[3] = {(uint32_t)handle, (uint32_t)buffer, (uint32_t)length};
    return length - eo_semihost(0x05, block);
}

void eo_sh_close(int32_t handle)
{
    const uint32_t block[1] = {(uint32_t)handle};
    (void)eo_semihost(0x02, block);
}

void eo_sh_print(const char *text)
{
    (void)eo_semihost(0x04, text);
}

void eo_sh_exit(int32_t code)
{
    const uint32_t block[2] = {0x20026u, (uint32_t)code}; /* ADP_Stopped_ApplicationExit */
    for (;;) {
        (void)eo_semihost(0x20, block);
    }
}

int32_t eo_sh_has_argument(const char *argument)
{
    static char line[128];
    uint32_t block[2];
    int32_t i, j;
    block[0] = (uint32_t)line;
    block[1] = sizeof line - 1u;
    if (eo_semihost(0x15, block) != 0) { /* SYS_GET_CMDLINE */
        return 0;
    }
    line[block[1] < sizeof line ? block[1] : sizeof line - 1u] = '\0';
    for (i = 0; line[i]; ++i) {
        for (j = 0; argument[j] && line[i + j] == argument[j]; ++j) {
        }
        if (!argument[j]) {
            return 1;
        }
    }
    return 0;
}

void eo_stack_paint(void)
{
    uint32_t here;
    volatile uint32_t *word = &_sstack;
    /* Paint up to a margin below this frame. */
    while ((uint32_t)word < (uint32_t)&here - 64u) {
        *word++ = EO_STACK_PAINT;
    }
}

uint32_t eo_stack_high_water(void)
{
    const uint32_t *word = &_sstack;
    while (word < &_estack && *word == EO_STACK_PAINT) {
        ++word;
    }
    return (uint32_t)((const uint8_t *)&_estack - (const uint8_t *)word);
}

static void eo_hex(char *out, uint32_t value)
{
    int32_t i;
    for (i = 7; i >= 0; --i) {
        const uint32_t digit = value & 0xFu;
        out[i] = (char)(digit < 10u ? '0' + digit : 'a' + digit - 10u);
        value >>= 4;
    }
}

void eo_fault_report(const uint32_t *frame);

void eo_fault_report(const uint32_t *frame)
{
    char message[] = "edgeopt: HardFault at pc=0x00000000 lr=0x00000000\n";
    eo_hex(message + 27, frame[6]);
    eo_hex(message + 42, frame[5]);
    eo_sh_print(message);
    eo_sh_exit(3);
}

__attribute__((naked)) static void eo_fault_handler(void)
{
    __asm__ volatile(
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "b eo_fault_report\n");
}

static void eo_default_handler(void)
{
    eo_sh_print("edgeopt: unexpected interrupt\n");
    eo_sh_exit(4);
}

void eo_reset(void);

__attribute__((optimize("no-tree-loop-distribute-patterns"))) void eo_reset(void)
{
    uint32_t *src = &_sidata;
    uint32_t *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss; ++dst) {
        *dst = 0u;
    }
#if defined(__ARM_FP)
    EO_CPACR |= 0xFu << 20; /* CP10/CP11 full access: the FPU faults otherwise */
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    eo_sh_exit(main());
}

typedef void (*eo_vector_t)(void);

__attribute__((section(".isr_vector"), used)) static const eo_vector_t eo_vectors[16] = {
    (eo_vector_t)(uint32_t)&_estack, eo_reset, eo_default_handler, eo_fault_handler,
    eo_fault_handler, eo_fault_handler, eo_fault_handler, 0, 0, 0, 0,
    eo_default_handler, eo_default_handler, 0, eo_default_handler, eo_default_handler,
};

/* Text output for on-target tests and reports (semihosting console). */
void eo_board_print(const char *text)
{
    eo_sh_print(text);
}
