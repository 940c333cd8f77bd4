// Everything staged_driver.inc uses, included by both files that build it (staged.cc and
// staged_driver_avx2.cc) before it: the .inc includes nothing itself, so that every header is
// read before staged_driver_avx2.cc's target pragma.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "compress/block.h"
#include "compress/cpu/kernels.h"
#include "compress/cpu/phase_clock.h"
#include "compress/cpu/rans_kernels.h"
#include "compress/cpu/staged.h"
#include "compress/cpu/staged_kernels.h"
#include "compress/cpu/staged_table.h"
#include "compress/cpu/stream_copy.h"
#include "compress/methods/dedup.h"
#include "compress/methods/local.h"
#include "compress/methods/local_packed.h"
#include "compress/methods/rans.h"
#include "compress/methods/table.h"
#include "compress/methods/varint.h"
#include "compress/quant.h"
