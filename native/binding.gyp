{
  "targets": [
    {
      "target_name": "cairn_uring",
      "sources": ["cairn_uring.c", "hashio.c", "own-pool.c", "xxh64x.c", "gfni.c", "syncer.c", "output-v8.cc"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-std=gnu++17"]
    },
    {
      "target_name": "cairn_rebuild",
      "sources": ["rebuild.c", "own-pool.c", "xxh64x.c", "gfni.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"]
    }
  ]
}
