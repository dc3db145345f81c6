/* A definition of milm_op_linear whose K is int32_t while codegen/cpu/ops/milm_ops.h
 * declares int64_t: what an op layer drifting from its header looks like. */
#include "milm_ops.h"

void milm_op_linear(milm_exec *ex, uint32_t format, const void *w, const float *bias,
                    const float *x, int64_t T, int32_t K, int64_t N, float *y, void *xq_scratch,
                    int32_t xq_ready, const uint16_t *side, const int32_t *cols, int64_t k) {}
