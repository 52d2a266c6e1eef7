/* The hardware-in-the-loop link (docs/hil_protocol.md): framing, dispatch and the
 * exactly-once rule. */
#include <string.h>

#include "eo_link.h"

uint16_t eo_crc16(const uint8_t *data, uint32_t length)
{
    uint16_t crc = 0xFFFFu; /* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection */
    uint32_t i;
    int32_t bit;
    for (i = 0; i < length; ++i) {
        crc = (uint16_t)(crc ^ (uint16_t)(data[i] << 8));
        for (bit = 0; bit < 8; ++bit) {
            crc = (uint16_t)(crc & 0x8000u ? ((uint32_t)crc << 1) ^ 0x1021u : (uint32_t)crc << 1);
        }
    }
    return crc;
}

void eo_cobs_write(const uint8_t *data, uint32_t length, eo_link_write_t write, void *context)
{
    uint32_t start = 0;
    for (;;) {
        uint32_t end = start;
        uint8_t code;
        while (end < length && data[end] != 0 && end - start < 254u) {
            ++end;
        }
        code = (uint8_t)(end - start + 1u);
        write(context, &code, 1);
        if (end > start) {
            write(context, data + start, end - start);
        }
        if (end == length) {
            return;
        }
        start = code == 0xFFu ? end : end + 1u; /* a full block implies no zero */
    }
}

int32_t eo_cobs_decode(uint8_t *data, uint32_t length)
{
    uint32_t in = 0, out = 0;
    while (in < length) {
        const uint32_t code = data[in];
        uint32_t k;
        if (code == 0 || in + code > length) {
            return -1; /* a zero inside a frame, or a block past its end */
        }
        ++in;
        for (k = 1; k < code; ++k) {
            data[out++] = data[in++];
        }
        if (code != 0xFFu && in < length) {
            data[out++] = 0;
        }
    }
    return (int32_t)out;
}

static void eo_link_send(const eo_link_t *link, const uint8_t *payload, uint32_t length)
{
    static const uint8_t delimiter = 0;
    eo_cobs_write(payload, length, link->config.write, link->config.context);
    link->config.write(link->config.context, &delimiter, 1);
}

static void eo_link_send_last(const eo_link_t *link)
{
    eo_link_send(link, link->config.tx, link->tx_length);
}

static void eo_link_send_error(const eo_link_t *link, uint16_t sequence, uint8_t command, eo_link_status_t status)
{
    uint8_t frame[EO_LINK_RESPONSE_HEADER + 2] = {EO_LINK_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    uint16_t crc;
    frame[1] = (uint8_t)(sequence & 0xFFu);
    frame[2] = (uint8_t)(sequence >> 8);
    frame[3] = (uint8_t)(command | 0x80u);
    frame[4] = (uint8_t)status;
    crc = eo_crc16(frame, EO_LINK_RESPONSE_HEADER);
    frame[EO_LINK_RESPONSE_HEADER] = (uint8_t)(crc >> 8);
    frame[EO_LINK_RESPONSE_HEADER + 1] = (uint8_t)(crc & 0xFFu);
    eo_link_send(link, frame, sizeof frame);
}

static void eo_link_respond(eo_link_t *link, uint16_t sequence, uint8_t command, eo_link_status_t status,
                            uint32_t body_bytes)
{
    uint8_t *const tx = link->config.tx;
    uint16_t crc;
    tx[0] = EO_LINK_VERSION;
    tx[1] = (uint8_t)(sequence & 0xFFu);
    tx[2] = (uint8_t)(sequence >> 8);
    tx[3] = (uint8_t)(command | 0x80u);
    tx[4] = (uint8_t)status;
    tx[5] = tx[6] = tx[7] = 0;
    crc = eo_crc16(tx, EO_LINK_RESPONSE_HEADER + body_bytes);
    tx[EO_LINK_RESPONSE_HEADER + body_bytes] = (uint8_t)(crc >> 8);
    tx[EO_LINK_RESPONSE_HEADER + body_bytes + 1u] = (uint8_t)(crc & 0xFFu);
    link->tx_length = EO_LINK_RESPONSE_HEADER + body_bytes + 2u;
    link->last_sequence = sequence;
    link->have_last = 1;
    eo_link_send_last(link);
}

static void eo_put32(uint8_t *at, uint32_t value)
{
    at[0] = (uint8_t)value;
    at[1] = (uint8_t)(value >> 8);
    at[2] = (uint8_t)(value >> 16);
    at[3] = (uint8_t)(value >> 24);
}

static void eo_link_dispatch(eo_link_t *link, uint8_t *frame, uint32_t length)
{
    const eo_link_config_t *const c = &link->config;
    uint8_t *const body = link->config.tx + EO_LINK_RESPONSE_HEADER;
    const uint8_t *const request = frame + EO_LINK_REQUEST_HEADER;
    uint32_t size;
    uint16_t sequence;
    uint8_t command;
    if (length < EO_LINK_REQUEST_HEADER + 2u ||
        eo_crc16(frame, length - 2u) != (uint16_t)((frame[length - 2u] << 8) | frame[length - 1u])) {
        link->dropped += 1; /* corrupt or truncated: the sender retries */
        return;
    }
    size = length - 2u - EO_LINK_REQUEST_HEADER;
    sequence = (uint16_t)(frame[1] | (frame[2] << 8));
    command = frame[3];
    link->frames += 1;
    if (link->have_last && sequence == link->last_sequence) {
        link->retries += 1; /* a retry: the answer again, without running anything again */
        eo_link_send_last(link);
        return;
    }
    if (frame[0] != EO_LINK_VERSION) {
        eo_link_respond(link, sequence, command, EO_LINK_BAD_VERSION, 0);
        return;
    }
    if ((command == EO_LINK_RUN || command == EO_LINK_BENCH) && link->have_last &&
        sequence != (uint16_t)(link->last_sequence + 1u)) {
        /* neither a retry nor the next request: not run, and the cached response stays the
         * one a retry of the last request gets */
        eo_link_send_error(link, sequence, command, EO_LINK_STALE_SEQUENCE);
        return;
    }
    switch (command) {
    case EO_LINK_INFO:
        memcpy(body, c->info, c->info_bytes);
        eo_link_respond(link, sequence, command, EO_LINK_OK, c->info_bytes);
        break;
    case EO_LINK_RESET:
        c->reset();
        eo_link_respond(link, sequence, command, EO_LINK_OK, 0);
        break;
    case EO_LINK_RUN: {
        const uint32_t samples = c->input_bytes ? size / c->input_bytes : 1u;
        uint32_t i;
        eo_status_t status = EO_OK;
        if (samples < 1u || samples > c->max_batch || samples * c->input_bytes != size) {
            eo_link_respond(link, sequence, command, EO_LINK_BAD_LENGTH, 0);
            break;
        }
        for (i = 0; i < samples && status == EO_OK; ++i) { /* in order: stateful artifacts see a stream */
            status = c->run(request + i * c->input_bytes, body + i * c->output_bytes);
        }
        eo_link_respond(link, sequence, command, status == EO_OK ? EO_LINK_OK : EO_LINK_RUN_FAILED,
                        status == EO_OK ? samples * c->output_bytes : 0u);
        break;
    }
    case EO_LINK_BENCH:
        if (size != c->input_bytes + 4u) {
            eo_link_respond(link, sequence, command, EO_LINK_BAD_LENGTH, 0);
        } else {
            const uint32_t repeats = (uint32_t)request[c->input_bytes] | (uint32_t)request[c->input_bytes + 1u] << 8 |
                                     (uint32_t)request[c->input_bytes + 2u] << 16 |
                                     (uint32_t)request[c->input_bytes + 3u] << 24;
            uint32_t i, before, after;
            eo_status_t status = EO_OK;
            before = c->ticks();
            for (i = 0; i < repeats && status == EO_OK; ++i) {
                status = c->run(request, body);
            }
            after = c->ticks();
            eo_put32(body, after - before);
            eo_put32(body + 4, repeats);
            eo_link_respond(link, sequence, command, status == EO_OK ? EO_LINK_OK : EO_LINK_RUN_FAILED, 8);
        }
        break;
    default:
        eo_link_respond(link, sequence, command, EO_LINK_UNKNOWN_COMMAND, 0);
        break;
    }
}

void eo_link_init(eo_link_t *link, const eo_link_config_t *config)
{
    link->config = *config;
    link->rx_length = 0;
    link->rx_overflow = 0;
    link->tx_length = 0;
    link->last_sequence = 0;
    link->have_last = 0;
    link->frames = link->dropped = link->retries = 0;
}

void eo_link_receive(eo_link_t *link, uint8_t byte)
{
    if (byte != 0) {
        if (link->rx_length < EO_LINK_RX_CAPACITY(link->config.max_batch * link->config.input_bytes)) {
            link->config.rx[link->rx_length++] = byte;
        } else {
            link->rx_overflow = 1;
        }
        return;
    }
    if (link->rx_length > 0 && !link->rx_overflow) { /* a delimiter ends the frame: resync here */
        const int32_t length = eo_cobs_decode(link->config.rx, link->rx_length);
        if (length < 0) {
            link->dropped += 1;
        } else {
            eo_link_dispatch(link, link->config.rx, (uint32_t)length);
        }
    } else if (link->rx_overflow) {
        link->dropped += 1;
    }
    link->rx_length = 0;
    link->rx_overflow = 0;
}
