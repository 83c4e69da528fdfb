#include "cachekit_shims.h"
#include "../../include/cachekit.h"

const char *ckshim_version_string(void) { return CACHEKIT_VERSION_STRING; }
