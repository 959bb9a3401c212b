// The addon's entry: what build/Release/lbdns_native.node exports (native/lbdns_native.h).
#include "lbdns_native.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("UdpBatch", lbdns::DefineUdpBatch(env));
  exports.Set("releaseFreedMemory", lbdns::DefineReleaseFreedMemory(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(lbdns_native, Init)
