/* Force-included into the model when the simulator captures per-layer outputs. */
#include <stdint.h>
enum { EO_TRACE_F32, EO_TRACE_S8, EO_TRACE_U8, EO_TRACE_S16, EO_TRACE_S32 };
void eo_sim_trace(int32_t step, const void *data, int32_t count, int32_t kind);
#define EO_TRACE(step, data, count, kind) eo_sim_trace((step), (data), (count), (kind))
