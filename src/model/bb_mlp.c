/* bb_mlp: the plain MLP backbone (SPEC 5): rows are d wide and the tower reads their concatenation
 * (F d) as it is; no head, no parameters of its own. */
#include "model/model.h"

static int mlp_width(int dim) { return dim; }

static long long mlp_tower_in(int fields, int dim) { return (long long)fields * dim; }

const Backbone BACKBONE_MLP = {
    .width = mlp_width,
    .tower_in = mlp_tower_in,
};
