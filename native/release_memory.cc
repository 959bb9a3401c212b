// releaseFreedMemory(): hands the memory malloc holds free back to the kernel; true when some was.
//
// glibc returns freed memory to the kernel only from the top of a heap, and only past a
// threshold; pages freed below a live allocation stay resident for good. After a bulk change of
// the cluster view (the objects file parsed, the first list's pages, the records replaced) that
// is 13-18 MiB at 10,000 Services / 100,000 endpoints. malloc_trim(0) walks every arena and
// gives back (madvise MADV_DONTNEED) each whole free page, wherever it is. It holds each arena's
// lock while it walks it, so it belongs after a bulk change, not on the query path.
//
// Elsewhere (musl, which has no malloc_trim) it does nothing and returns false.
#include "lbdns_native.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace {

Napi::Value ReleaseFreedMemory(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
  return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

}  // namespace

namespace lbdns {

Napi::Function DefineReleaseFreedMemory(Napi::Env env) {
  return Napi::Function::New(env, ReleaseFreedMemory, "releaseFreedMemory");
}

}  // namespace lbdns
