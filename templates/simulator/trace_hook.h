/* Force-included into the model when the simulator captures per-layer outputs. */
#include <stdint.h>
void eo_sim_trace(int32_t step, const float *data, int32_t count);
#define EO_TRACE(step, data, count) eo_sim_trace((step), (data), (count))
