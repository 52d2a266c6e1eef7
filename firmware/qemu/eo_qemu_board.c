/* The timer and the UART of each emulated board, chosen by the target's defines
 * (firmware/targets.json): MPS2's CMSDK peripherals, or the AST1030's. */
#include "eo_qemu.h"

#if defined(EO_BOARD_AST1030)

/* Aspeed timer 1: a 32-bit down-counter at the 50 MHz APB clock. */
#define EO_TIMER ((volatile uint32_t *)0x7E782000u)
enum { EO_TIMER1_COUNT = 0, EO_TIMER1_RELOAD = 1, EO_TIMER_CONTROL = 12 };

/* UART5, the console (QEMU's first -serial): a 16550 with 32-bit registers. Its receive
 * FIFO matters here: QEMU hands the firmware up to the trigger level's bytes per round of
 * its I/O thread, where MPS2's CMSDK UART takes one. */
#define EO_UART ((volatile uint32_t *)0x7E784000u)
enum { EO_UART_DATA = 0, EO_UART_IER = 1, EO_UART_FCR = 2, EO_UART_LCR = 3, EO_UART_LSR = 5 };
enum { EO_LSR_DATA_READY = 0x01u, EO_LSR_TX_EMPTY = 0x20u };

void eo_timer_start(void)
{
    EO_TIMER[EO_TIMER_CONTROL] &= ~0xFu; /* timer 1: stop */
    EO_TIMER[EO_TIMER1_RELOAD] = 0xFFFFFFFFu;
    EO_TIMER[EO_TIMER_CONTROL] |= 1u; /* enable, on the APB clock, no interrupt */
}

uint32_t eo_timer_now(void)
{
    return EO_TIMER[EO_TIMER1_COUNT];
}

void eo_uart_init(void)
{
    EO_UART[EO_UART_LCR] = 3u;    /* 8N1 (QEMU ignores the rate) */
    EO_UART[EO_UART_IER] = 0u;    /* polled */
    EO_UART[EO_UART_FCR] = 0xC7u; /* FIFOs on and cleared, receive trigger at 14 bytes */
}

static uint32_t eo_uart_tx_busy(void)
{
    return !(EO_UART[EO_UART_LSR] & EO_LSR_TX_EMPTY);
}

static uint32_t eo_uart_rx_ready(void)
{
    return EO_UART[EO_UART_LSR] & EO_LSR_DATA_READY;
}

#else

#ifndef EO_TIMER0_BASE
#define EO_TIMER0_BASE 0x40000000u /* CMSDK TIMER0; AN505's secure alias is 0x50000000 */
#endif
#define EO_TIMER ((volatile uint32_t *)EO_TIMER0_BASE)
#ifndef EO_UART0_BASE
#define EO_UART0_BASE 0x40004000u /* CMSDK APB UART0; AN505's secure alias is 0x50200000 */
#endif
#define EO_UART ((volatile uint32_t *)EO_UART0_BASE)
enum { EO_UART_DATA = 0 };

void eo_timer_start(void)
{
    EO_TIMER[0] = 0u;          /* CTRL: stop */
    EO_TIMER[2] = 0xFFFFFFFFu; /* RELOAD */
    EO_TIMER[1] = 0xFFFFFFFFu; /* VALUE */
    EO_TIMER[0] = 1u;          /* CTRL: enable */
}

uint32_t eo_timer_now(void)
{
    return EO_TIMER[1];
}

void eo_uart_init(void)
{
    EO_UART[4] = 16u; /* BAUDDIV: QEMU ignores the rate, the register must be >= 16 */
    EO_UART[2] = 3u;  /* CTRL: TX and RX enable */
}

static uint32_t eo_uart_tx_busy(void)
{
    return EO_UART[1] & 1u; /* STATE: TX buffer full */
}

static uint32_t eo_uart_rx_ready(void)
{
    return EO_UART[1] & 2u; /* STATE: RX buffer full */
}

#endif

uint32_t eo_ticks(void)
{
    return 0xFFFFFFFFu - eo_timer_now(); /* the down-counter, counting up from eo_timer_start */
}

void eo_uart_write(const uint8_t *data, uint32_t length)
{
    uint32_t i;
    for (i = 0; i < length; ++i) {
        while (eo_uart_tx_busy()) {
        }
        EO_UART[EO_UART_DATA] = data[i];
    }
}

uint8_t eo_uart_read(void)
{
    while (!eo_uart_rx_ready()) {
        int32_t i;
        /* between polls, no device access: each one takes QEMU's global lock, which the I/O
         * thread needs to hand over the next byte */
        for (i = 0; i < 64; ++i) {
            __asm__ volatile("nop");
        }
    }
    return (uint8_t)EO_UART[EO_UART_DATA];
}
