#include "deepzine/util/child_process.h"

#include <sys/resource.h>

namespace deepzine::util {

void disable_core_dumps() {
  const rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);  // lowering a limit cannot fail for want of privilege
}

}  // namespace deepzine::util
