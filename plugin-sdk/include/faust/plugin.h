/*
 * faust-host plugin ABI (C).
 *
 * A plugin is a shared library exporting one symbol, FAUST_PLUGIN_ENTRY_SYMBOL, a function that
 * returns a pointer to a constant descriptor. The descriptor lists the agents and timers the
 * plugin provides. The host hands every agent/timer instance a host-API table and an opaque
 * context at creation time.
 *
 * Rules that keep the boundary stable:
 *   - only C types cross it; whoever allocates frees;
 *   - strings the host passes are valid only for the duration of the call, except those returned
 *     by faust_host_api.app_id and faust_host_api.config_get, which live as long as the instance;
 *   - an instance is never called from two threads at once; different instances may be called
 *     concurrently;
 *   - errors are reported by returning FAUST_ERROR and writing a message into the faust_error
 *     buffer the host provides.
 *
 * Versioning: a host accepts a plugin with the same ABI major and a minor less than or equal to
 * its own. New fields are only ever appended to structs that carry struct_size.
 */
#ifndef FAUST_PLUGIN_H
#define FAUST_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FAUST_PLUGIN_ABI_MAJOR 1
#define FAUST_PLUGIN_ABI_MINOR 0

#define FAUST_PLUGIN_ENTRY_SYMBOL faust_plugin_entry
#define FAUST_PLUGIN_ENTRY_NAME "faust_plugin_entry"

#if defined(__GNUC__)
#define FAUST_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define FAUST_PLUGIN_EXPORT
#endif

typedef enum faust_status { FAUST_OK = 0, FAUST_ERROR = 1 } faust_status;

typedef enum faust_log_level {
  FAUST_LOG_TRACE = 0,
  FAUST_LOG_DEBUG = 1,
  FAUST_LOG_INFO = 2,
  FAUST_LOG_WARN = 3,
  FAUST_LOG_ERROR = 4
} faust_log_level;

#define FAUST_ERROR_MESSAGE_SIZE 512

/* Host-owned buffer a plugin writes an error message into (NUL-terminated, truncated). */
typedef struct faust_error {
  char message[FAUST_ERROR_MESSAGE_SIZE];
} faust_error;

typedef struct faust_header {
  const char* key;
  const void* value;
  size_t value_size;
} faust_header;

/* A message handed to an agent. key is NULL when the message has no key. */
typedef struct faust_message {
  const void* key;
  size_t key_size;
  const void* value;
  size_t value_size;
  const faust_header* headers;
  size_t header_count;
  const char* topic;
  int32_t partition;
  int64_t offset;
  int64_t timestamp_ms;
} faust_message;

/* What a plugin asks the host to send. Exactly one of agent and topic is set. */
typedef struct faust_send_request {
  uint32_t struct_size;
  const char* agent;
  const char* topic;
  const void* key; /* NULL: no key */
  size_t key_size;
  const void* value;
  size_t value_size;
  const faust_header* headers;
  size_t header_count;
} faust_send_request;

/* Opaque per-instance context owned by the host. */
typedef struct faust_host_context faust_host_context;

typedef struct faust_host_api {
  uint32_t struct_size;
  /* Writes one log line tagged with the plugin's name. */
  void (*log)(faust_host_context* ctx, faust_log_level level, const char* message);
  /* Sends a message. From an agent, or a timer without on_leader: returns once the broker
   * acknowledged it (or the send failed). From an on_leader timer's tick: returns once the
   * message is queued in the tick's transaction; everything the tick sent is committed together
   * when the tick returns FAUST_OK, and none of it is delivered when the tick fails, when any of
   * its sends failed, or when the commit fails (the host then reports the tick as failed). */
  faust_status (*send)(faust_host_context* ctx, const faust_send_request* request, faust_error* error);
  /* Non-zero while this worker is the app's leader. */
  int (*is_leader)(faust_host_context* ctx);
  const char* (*app_id)(faust_host_context* ctx);
  /* The value of `key` in this agent's/timer's `config:` map in the manifest, or NULL. */
  const char* (*config_get)(faust_host_context* ctx, const char* key);
} faust_host_api;

/* Creates an instance; returns NULL and fills `error` on failure. */
typedef void* (*faust_create_fn)(const faust_host_api* host, faust_host_context* ctx, faust_error* error);
typedef void (*faust_destroy_fn)(void* instance);
typedef faust_status (*faust_agent_handle_fn)(void* instance, const faust_message* message, faust_error* error);
typedef faust_status (*faust_timer_tick_fn)(void* instance, faust_error* error);

typedef struct faust_agent_def {
  const char* name;
  faust_create_fn create;
  faust_destroy_fn destroy;
  faust_agent_handle_fn handle;
} faust_agent_def;

typedef struct faust_timer_def {
  const char* name;
  faust_create_fn create;
  faust_destroy_fn destroy;
  faust_timer_tick_fn tick;
} faust_timer_def;

typedef struct faust_plugin_descriptor {
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t struct_size; /* sizeof(faust_plugin_descriptor) as the plugin was built */
  const char* name;
  const char* version;
  const faust_agent_def* const* agents; /* array of agent_count pointers */
  size_t agent_count;
  const faust_timer_def* const* timers; /* array of timer_count pointers */
  size_t timer_count;
} faust_plugin_descriptor;

typedef const faust_plugin_descriptor* (*faust_plugin_entry_fn)(void);

/* What every plugin defines (the C++ SDK's FAUST_PLUGIN macro does it for C++ plugins). */
FAUST_PLUGIN_EXPORT const faust_plugin_descriptor* FAUST_PLUGIN_ENTRY_SYMBOL(void);

#ifdef __cplusplus
}
#endif

#endif /* FAUST_PLUGIN_H */
