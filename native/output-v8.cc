/*
 * Outputs as V8 backing stores (alloc_recycled in cairn_uring.c says why): N-API's external
 * ArrayBuffer is a Buffer whose free callback hangs on a weak global handle, run later from the
 * event loop. This makes the ArrayBuffer the way V8 makes its own: a backing store with a deleter,
 * freed by V8's ArrayBuffer sweeper when the buffer dies (possibly on a background thread), and no
 * handle. The one C++ file of the addon: N-API has no call for it.
 */
#include <cstring>
#include <memory>
#include <node_api.h>
#include <v8.h>

extern "C" {
/* Defined in cairn_uring.c: takes back the bytes of an output V8 freed (any thread). */
void cairn_output_freed(void *data, size_t length, void *deleter_data);
/* An ArrayBuffer over `data` whose bytes go to cairn_output_freed when V8 frees it. */
napi_value cairn_v8_output(napi_env env, void *data, size_t length, void *deleter_data);
}

napi_value cairn_v8_output(napi_env env, void *data, size_t length, void *deleter_data) {
  (void)env;
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr) return nullptr;
  std::unique_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(data, length, cairn_output_freed, deleter_data);
  v8::Local<v8::ArrayBuffer> ab = v8::ArrayBuffer::New(isolate, std::move(store));
  /* (an N-API value is a pointer to the handle's slot, as in Node's own JsValueFromV8LocalValue) */
  return reinterpret_cast<napi_value>(*ab);
}

extern "C" napi_value cairn_v8_adopt(napi_env env, napi_value value);

/* A new ArrayBuffer over `value`'s backing store, `value` detached; NULL when it is not a detachable ArrayBuffer. */
napi_value cairn_v8_adopt(napi_env env, napi_value value) {
  (void)env;
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Value> v;
  memcpy(static_cast<void *>(&v), &value, sizeof value);
  if (isolate == nullptr || v.IsEmpty() || !v->IsArrayBuffer()) return nullptr;
  v8::Local<v8::ArrayBuffer> old = v.As<v8::ArrayBuffer>();
  if (!old->IsDetachable() || old->WasDetached()) return nullptr;
  std::shared_ptr<v8::BackingStore> store = old->GetBackingStore();
  if (old->Detach(v8::Local<v8::Value>()).IsNothing()) return nullptr;
  v8::Local<v8::ArrayBuffer> ab = v8::ArrayBuffer::New(isolate, store);
  return reinterpret_cast<napi_value>(*ab);
}
