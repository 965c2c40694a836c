/* hashio: checksummed positional I/O on the libuv thread-pool (see hashio.c). */
#ifndef CAIRN_HASHIO_H
#define CAIRN_HASHIO_H
#include <node_api.h>
/** Define preadvHash, pwritevHash and xxh64Parts on `exports`. */
napi_status hashio_init(napi_env env, napi_value exports);
#endif
