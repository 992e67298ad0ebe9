// rmodel's fast C-simulation headers (see ap_fixed.h next to this file). rmodel's firmware declares
// every type as ap_fixed / ap_ufixed; it includes ap_int.h only for Xilinx's headers, so this one
// provides no ap_int / ap_uint (Python falls back to Xilinx's headers if the code names them).
#ifndef RMODEL_FAST_AP_INT_H
#define RMODEL_FAST_AP_INT_H

#include "ap_fixed.h"

#endif  // RMODEL_FAST_AP_INT_H
