// lbdns's native addon, build/Release/lbdns_native.node (binding.gyp): one Node-API module made of
// the parts below, each in its own source file; lbdns_native.cc registers them.
// src/util/native-addon.ts loads it and declares what it exports.
#pragma once

#include <napi.h>

namespace lbdns {

// native/udp_batch.cc: the class UdpBatch, batched UDP I/O (src/server/udp-batch.ts), answering
// repeat queries from the shared table of fixed answers itself (native/fixed_answers.h).
Napi::Function DefineUdpBatch(Napi::Env env);

// native/release_memory.cc: releaseFreedMemory(), glibc's malloc_trim(0) (src/app.ts calls it
// after the view's bulk-change collection).
Napi::Function DefineReleaseFreedMemory(Napi::Env env);

}  // namespace lbdns
