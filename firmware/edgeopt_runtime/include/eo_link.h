/* edgeopt's serial link: the hardware-in-the-loop protocol of docs/hil_protocol.md, the same
 * on every board (an emulated UART, USB serial, a board farm's network port). COBS frames
 * with a 0x00 delimiter, CRC-16/CCITT-FALSE, a version byte, a 16-bit sequence number and a
 * command byte; a retried request (same sequence number) is answered from the last response,
 * never executed twice. C99, no malloc: the caller owns every buffer. */
#ifndef EO_LINK_H
#define EO_LINK_H

#include <stdint.h>

#include "eo_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EO_LINK_VERSION 1
#define EO_LINK_REQUEST_HEADER 4  /* version, sequence (little-endian), command */
#define EO_LINK_RESPONSE_HEADER 8 /* version, sequence, command | 0x80, status, 3 reserved */

typedef enum {
    EO_LINK_INFO = 0x01,  /* -> the artifact's description (JSON) */
    EO_LINK_RUN = 0x02,   /* 1 to max_batch samples of packed inputs -> their packed outputs */
    EO_LINK_BENCH = 0x03, /* packed inputs, uint32 repeats -> uint32 elapsed ticks, uint32 repeats */
    EO_LINK_RESET = 0x04  /* the artifact's reset */
} eo_link_command_t;

typedef enum {
    EO_LINK_OK = 0,
    EO_LINK_BAD_VERSION = 1,
    EO_LINK_UNKNOWN_COMMAND = 2,
    EO_LINK_BAD_LENGTH = 3,
    EO_LINK_STALE_SEQUENCE = 4, /* neither a retry of the last request nor the next one */
    EO_LINK_RUN_FAILED = 5
} eo_link_status_t;

typedef void (*eo_link_write_t)(void *context, const uint8_t *data, uint32_t length);

typedef struct {
    eo_status_t (*run)(const void *in, void *out);
    void (*reset)(void);
    uint32_t input_bytes, output_bytes;
    uint32_t max_batch; /* samples one RUN may carry */
    const char *info;   /* the artifact's description, JSON */
    uint32_t info_bytes;
    uint32_t (*ticks)(void); /* a free-running up-counter: cycles, or the emulated timer */
    eo_link_write_t write; /* sends bytes to the host */
    void *context;         /* write's first argument */
    /* rx: one frame as received (COBS), decoded in place; 4-byte aligned, at least
     * EO_LINK_RX_CAPACITY(max_batch * input_bytes) bytes. tx: the last response, 4-byte aligned,
     * at least EO_LINK_TX_CAPACITY(max_batch * output_bytes, info_bytes) bytes. */
    uint8_t *rx;
    uint8_t *tx;
} eo_link_config_t;

typedef struct {
    eo_link_config_t config;
    uint32_t rx_length;
    int32_t rx_overflow; /* the frame outgrew rx: dropped at its delimiter */
    uint32_t tx_length;  /* the last response's payload, resent on a retry */
    uint16_t last_sequence;
    int32_t have_last;
    uint32_t frames, dropped, retries; /* counters */
} eo_link_t;

/* Bytes rx and tx need, for static buffers. */
#define EO_LINK_RX_CAPACITY(input_bytes) \
    ((EO_LINK_REQUEST_HEADER + (input_bytes) + 4u + 2u) + (EO_LINK_REQUEST_HEADER + (input_bytes) + 6u) / 254u + 2u)
#define EO_LINK_TX_CAPACITY(output_bytes, info_bytes)                                              \
    (EO_LINK_RESPONSE_HEADER + ((output_bytes) > (info_bytes) ? ((output_bytes) > 8u ? (output_bytes) : 8u) \
                                                              : (info_bytes)) + 2u)

void eo_link_init(eo_link_t *link, const eo_link_config_t *config);
/* Feed every received byte; a complete frame is answered through config.write. */
void eo_link_receive(eo_link_t *link, uint8_t byte);

/* The framing, exposed for tests on both sides. */
uint16_t eo_crc16(const uint8_t *data, uint32_t length); /* CRC-16/CCITT-FALSE */
/* Encodes length bytes, writing the code bytes and data through write (no delimiter). */
void eo_cobs_write(const uint8_t *data, uint32_t length, eo_link_write_t write, void *context);
/* Decodes in place; returns the decoded length, or -1 for a malformed frame. */
int32_t eo_cobs_decode(uint8_t *data, uint32_t length);

#ifdef __cplusplus
}
#endif

#endif /* EO_LINK_H */
