/* Declarations of the Arduino core API the generated real-board main uses (Serial, micros),
 * as the Arduino cores declare them: enough to compile main.cpp where the real cores cannot be
 * installed (no registry). Nothing is defined; the test only compiles. */
#ifndef EDGEOPT_TEST_ARDUINO_H
#define EDGEOPT_TEST_ARDUINO_H
#include <stddef.h>
#include <stdint.h>

class HardwareSerial {
public:
    void begin(unsigned long baud);
    int available(void);
    int read(void);
    size_t write(const uint8_t *buffer, size_t size);
};

extern HardwareSerial Serial;
unsigned long micros(void);
#endif
