{
  "targets": [
    {
      "target_name": "lbdns_native",
      "sources": ["native/lbdns_native.cc", "native/udp_batch.cc", "native/fixed_answers.cc", "native/release_memory.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    }
  ]
}
