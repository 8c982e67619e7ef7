/* Declarations only: see include/CDemangle.h. */
#include "CDemangle.h"
