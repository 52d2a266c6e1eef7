/* Board support for running edgeopt models on QEMU's Cortex-M machines (MPS2, AST1030):
 * semihosting file I/O and exit, the timer used to count instructions under -icount, the
 * UART of HIL firmware, and stack painting for the high-water mark. */
#ifndef EO_QEMU_H
#define EO_QEMU_H

#include <stdint.h>

enum { EO_SH_READ_BINARY = 1, EO_SH_WRITE_BINARY = 5 };

int32_t eo_sh_open(const char *path, int32_t mode);
int32_t eo_sh_read(int32_t handle, void *buffer, int32_t length);   /* bytes read */
int32_t eo_sh_write(int32_t handle, const void *buffer, int32_t length);
void eo_sh_close(int32_t handle);
void eo_sh_print(const char *text);
void eo_sh_exit(int32_t code) __attribute__((noreturn));
void eo_board_print(const char *text); /* the board's console */

/* A 32-bit down-counter at the target's timer_hz (firmware/targets.json). */
void eo_timer_start(void);
uint32_t eo_timer_now(void);

/* The timer as a free-running up-counter (after eo_timer_start). */
uint32_t eo_ticks(void);

/* The board's console UART, polled: the serial link of HIL firmware. */
void eo_uart_init(void);
void eo_uart_write(const uint8_t *data, uint32_t length);
uint8_t eo_uart_read(void);

/* 1 if the semihosting command line (QEMU -semihosting-config ...,arg=) has the argument. */
int32_t eo_sh_has_argument(const char *argument);

void eo_stack_paint(void);
uint32_t eo_stack_high_water(void); /* bytes of stack ever used */

#endif /* EO_QEMU_H */
