/*
 * faust-host plugin ABI (C).
 *
 * A plugin is a shared library exporting one symbol, FAUST_PLUGIN_ENTRY_SYMBOL, a function that
 * returns a pointer to a constant descriptor. The descriptor lists the agents, timers and (since
 * ABI 1.1) services the plugin provides. The host hands every instance a host-API table and an
 * opaque context at creation time.
 *
 * Rules that keep the boundary stable:
 *   - only C types cross it; whoever allocates frees;
 *   - strings the host passes are valid only for the duration of the call, except those returned
 *     by faust_host_api.app_id and faust_host_api.config_get, which live as long as the instance;
 *   - an instance is never called from two threads at once; different instances may be called
 *     concurrently (the one exception: page handlers, see faust_host_api.page_register);
 *   - errors are reported by returning FAUST_ERROR and writing a message into the faust_error
 *     buffer the host provides.
 *
 * Versioning: a host accepts a plugin with the same ABI major and a minor less than or equal to
 * its own. New fields are only ever appended to structs that carry struct_size, and a reader uses
 * an appended field only when the writer's struct_size covers it. faust_agent_def and
 * faust_timer_def carry no struct_size and are frozen as in ABI 1.0.
 *
 * ABI 1.1 added: services (faust_service_def, faust_plugin_descriptor.services), and in
 * faust_host_api wait_for_stop, plugin metrics (metric_*), web pages (page_*) and the leader
 * state (state_*). ABI 1.2 added batch handling (faust_agent_batch_def,
 * faust_plugin_descriptor.agent_batches). ABI 1.3 added faust_host_api.await_sends, with agents'
 * sends pipelined (see send). ABI 1.4 added the plugin-wide part (faust_shared_def,
 * faust_plugin_descriptor.shared, faust_host_api.shared_object). A plugin runs only on a host of
 * its minor or newer, so it may use what its minor has without checking faust_host_api.struct_size.
 */
#ifndef FAUST_PLUGIN_H
#define FAUST_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FAUST_PLUGIN_ABI_MAJOR 1
#define FAUST_PLUGIN_ABI_MINOR 4

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

/* Opaque per-instance context owned by the host (the plugin-wide part has one too). */
typedef struct faust_host_context faust_host_context;

/* ABI 1.1: plugin metrics. */
typedef enum faust_metric_kind {
  FAUST_METRIC_COUNTER = 0,
  FAUST_METRIC_GAUGE = 1,
  FAUST_METRIC_HISTOGRAM = 2
} faust_metric_kind;

typedef struct faust_metric_spec {
  uint32_t struct_size;
  faust_metric_kind kind;
  const char* name;
  const char* help;       /* NULL: none */
  const double* buckets;  /* histograms: upper bounds, strictly increasing; NULL: the defaults */
  size_t bucket_count;
} faust_metric_spec;

/* Opaque, host-owned. */
typedef struct faust_metric faust_metric;

/* ABI 1.1: plugin web pages. */
typedef struct faust_page_request {
  uint32_t struct_size;
  const char* path;  /* as registered */
  const char* query; /* after '?', "" when none */
} faust_page_request;

/* Opaque, host-owned, valid during the handler's call. */
typedef struct faust_page_response faust_page_response;

/* ABI 1.1: leader state. Called with one entry; the buffers are valid during the call only. */
typedef void (*faust_state_visit_fn)(void* user, const void* key, size_t key_size, const void* value,
                                     size_t value_size);

typedef faust_status (*faust_page_fn)(void* user, const faust_page_request* request, faust_page_response* response,
                                      faust_error* error);

typedef struct faust_host_api {
  uint32_t struct_size;
  /* Writes one log line tagged with the plugin's name. */
  void (*log)(faust_host_context* ctx, faust_log_level level, const char* message);
  /* Sends a message.
   * From an agent's handle (at least once, message by message; any plugin minor): returns once
   * the message is queued. The host commits the consumed message only after the broker
   * acknowledged every message its handler sent; a message the broker refuses for its own sake
   * (too large, no key for a compacted topic, not authorized) applies the agent's on_error to the
   * consumed message that sent it, as if its handler had failed. Use await_sends to know first.
   * From a batch or an exactly-once agent: queued in the unit, delivered with it.
   * From a timer without on_leader or a service: returns once the broker acknowledged it (or the
   * send failed). From an on_leader timer's tick: returns once the
   * message is queued in the tick's transaction; everything the tick sent is committed together
   * when the tick returns FAUST_OK, and none of it is delivered when the tick fails, when any of
   * its sends failed, or when the commit fails (the host then reports the tick as failed). */
  faust_status (*send)(faust_host_context* ctx, const faust_send_request* request, faust_error* error);
  /* Non-zero while this worker is the app's leader. */
  int (*is_leader)(faust_host_context* ctx);
  const char* (*app_id)(faust_host_context* ctx);
  /* The value of `key` in this component's `config:` map in the manifest, or NULL. */
  const char* (*config_get)(faust_host_context* ctx, const char* key);

  /* ---- ABI 1.1 ---- */

  /* Waits up to timeout_ms for this component to be asked to stop; non-zero once it is. In a
   * service's lead(): when its leadership term ends or the worker stops. Anywhere else: when
   * the worker stops. A long-running call polls it and returns soon after it answers non-zero. */
  int (*wait_for_stop)(faust_host_context* ctx, uint32_t timeout_ms);

  /* Creates (or finds, when this plugin created it before with the same kind) a metric exported
   * on /metrics with the label plugin="<plugin name>". NULL with `error` filled when the spec is
   * invalid: a name that breaks Prometheus' rules ([a-zA-Z_][a-zA-Z0-9_]*), starts with "faust_"
   * or "__", or is already used with another kind or help. The metric lives as long as the
   * worker; these calls are thread-safe. */
  faust_metric* (*metric_create)(faust_host_context* ctx, const faust_metric_spec* spec, faust_error* error);
  /* Counter: adds value (ignored when negative). Gauge: adds value. Histogram: observes value. */
  void (*metric_add)(faust_metric* metric, double value);
  /* Gauge: sets value. Ignored for other kinds. */
  void (*metric_set)(faust_metric* metric, double value);

  /* Serves GET /plugins/<plugin name>/<path> with `handler`, called with `user` until the
   * registering instance is destroyed. path: one or more segments of [A-Za-z0-9._~-] separated
   * by '/', no leading '/'. Handlers run on the host's page threads, outside the web server's
   * event loop and concurrently with the instance's other calls: guard what they share. A handler
   * that has not answered within the manifest's web.page_timeout gets its client a 503. */
  faust_status (*page_register)(faust_host_context* ctx, const char* path, faust_page_fn handler, void* user,
                                faust_error* error);
  /* Sets a page's answer; call it once from the handler (a handler that does not gets a 500).
   * content_type NULL: "text/plain; charset=utf-8". */
  void (*page_respond)(faust_page_response* response, int status, const char* content_type, const void* body,
                       size_t body_size);

  /* Leader state: a key-value store of the app's leader, fenced with its term. Usable only in
   * leader work: an on_leader timer's tick, a leader-only agent's handle (on_leader: true), and a
   * service's elected and lead; anywhere else FAUST_ERROR ("not in a leader term"). A write joins
   * the work's transaction: it becomes visible, to this leader's later work, to the next leader
   * and after a restart, together with the work's sends (and a leader-only agent's consumed
   * offset), or not at all when the work fails or the term was fenced. Reads see the work's own
   * writes. Keys are 1..1024 bytes, values at most 1 MiB; the whole state at most the manifest's
   * app.leader_state_mib. */
  /* Calls visit once with the key's value when it has one; not at all when it has none. */
  faust_status (*state_get)(faust_host_context* ctx, const void* key, size_t key_size, faust_state_visit_fn visit,
                            void* user, faust_error* error);
  faust_status (*state_put)(faust_host_context* ctx, const void* key, size_t key_size, const void* value,
                            size_t value_size, faust_error* error);
  /* Deleting a key that has no value succeeds. */
  faust_status (*state_delete)(faust_host_context* ctx, const void* key, size_t key_size, faust_error* error);
  /* Calls visit for every key that starts with prefix (all keys for an empty prefix), in
   * byte-wise key order. */
  faust_status (*state_scan)(faust_host_context* ctx, const void* prefix, size_t prefix_size, faust_state_visit_fn visit,
                             void* user, faust_error* error);

  /* ---- ABI 1.3 ---- */

  /* Waits until the broker acknowledged every message this handler call has sent so far.
   * FAUST_ERROR with the broker's reason when it refused one: the handler has then been told, and
   * what it returns decides the consumed message's fate (the refusal no longer applies on_error
   * by itself). FAUST_OK at once where sends are already acknowledged when send returns or are
   * delivered with a unit (timers, services, batches, transactions). */
  faust_status (*await_sends)(faust_host_context* ctx, faust_error* error);

  /* ---- ABI 1.4 ---- */

  /* The plugin-wide object: what faust_shared_def.create returned for this library, the same for
   * every instance of every agent, timer and service of the plugin in this worker. NULL when the
   * plugin has no faust_shared_def, and inside that create itself. Valid as long as the calling
   * instance: the host destroys it after the plugin's last instance. */
  void* (*shared_object)(faust_host_context* ctx);
} faust_host_api;

/* Creates an instance; returns NULL and fills `error` on failure. */
typedef void* (*faust_create_fn)(const faust_host_api* host, faust_host_context* ctx, faust_error* error);
typedef void (*faust_destroy_fn)(void* instance);
typedef faust_status (*faust_agent_handle_fn)(void* instance, const faust_message* message, faust_error* error);
typedef faust_status (*faust_timer_tick_fn)(void* instance, faust_error* error);
/* ABI 1.2: handles `count` (at least 1) messages of one partition, in offset order. The
 * messages, and everything they point to, are valid only during the call. */
typedef faust_status (*faust_agent_handle_batch_fn)(void* instance, const faust_message* messages, size_t count,
                                                    faust_error* error);

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

/* ABI 1.1: the leadership term a service was elected for. */
typedef struct faust_term {
  uint32_t struct_size;
  int32_t generation;      /* the term's number: the leader group's generation it began in (larger for
                            every later term; kept while rebalances leave the partition with it) */
  int64_t established_ms;  /* when the term was established (fenced), Unix epoch milliseconds */
} faust_term;

/* ABI 1.1: a service, a component with the worker's and the leader's lifecycle. Every callback
 * of one instance runs on the instance's own host thread, so calls never overlap:
 *   start            once the worker is connected (its topics exist), before it joins the
 *                    consumer groups, so before its first elected;
 *   elected(term)    each time this worker's leadership term is established, before the term's
 *                    first on_leader tick; its sends belong to the term, like a tick's (one
 *                    transaction, committed when it returns FAUST_OK);
 *   lead             right after elected succeeds: the term's long task, if any; returns when
 *                    host->wait_for_stop answers non-zero (the term ended, or the worker stops);
 *                    each of its sends is a transaction of its own;
 *   revoked          when the term ends (revoke, step-down, fencing, shutdown); after elected
 *                    and lead, so elected and revoked strictly alternate;
 *   stop             at shutdown, after the last revoked.
 * Every callback is optional (NULL). A lead or revoked that does not return within the service's
 * stop_timeout is logged and the worker goes on without it. */
typedef struct faust_service_def {
  uint32_t struct_size;
  const char* name;
  faust_create_fn create;
  faust_destroy_fn destroy;
  faust_status (*start)(void* instance, faust_error* error);
  void (*stop)(void* instance);
  faust_status (*elected)(void* instance, const faust_term* term, faust_error* error);
  faust_status (*lead)(void* instance, faust_error* error);
  void (*revoked)(void* instance);
} faust_service_def;

/* ABI 1.2: batch handling for one of the plugin's agents (`agent` names an entry of `agents`;
 * the instance is that agent's). The host then hands the agent its messages in batches (the
 * manifest's `batch:`): one partition per batch, so order holds, and the batch's offsets commit
 * only after handle_batch returns FAUST_OK. A batch that fails is handled again message by
 * message through the agent's handle, and the agent's on_error applies to each message that fails
 * alone: messages before the failing one may therefore be handled twice (at_least_once), or their
 * first handling is rolled back with the batch's transaction (exactly_once). */
typedef struct faust_agent_batch_def {
  uint32_t struct_size;
  const char* agent;
  faust_agent_handle_batch_fn handle_batch;
} faust_agent_batch_def;

/* ABI 1.4: the plugin-wide part: created once per loaded library and worker, before any agent,
 * timer or service instance, and destroyed after the last one. Its create gets a context of its
 * own, whose pages and metrics belong to the plugin rather than to one instance (log lines are
 * tagged with the plugin's name; config_get answers NULL; the leader state refuses, as it is no
 * leader work). Every instance reaches the object through faust_host_api.shared_object. Pages and
 * other calls may reach it from several threads at once: guard what it holds. */
typedef struct faust_shared_def {
  uint32_t struct_size;
  faust_create_fn create;
  faust_destroy_fn destroy;
} faust_shared_def;

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
  /* ---- ABI 1.1 ---- */
  const faust_service_def* const* services; /* array of service_count pointers */
  size_t service_count;
  /* ---- ABI 1.2 ---- */
  const faust_agent_batch_def* const* agent_batches; /* array of agent_batch_count pointers */
  size_t agent_batch_count;
  /* ---- ABI 1.4 ---- */
  const faust_shared_def* shared; /* NULL: no plugin-wide part */
} faust_plugin_descriptor;

typedef const faust_plugin_descriptor* (*faust_plugin_entry_fn)(void);

/* What every plugin defines (the C++ SDK's FAUST_PLUGIN macro does it for C++ plugins). */
FAUST_PLUGIN_EXPORT const faust_plugin_descriptor* FAUST_PLUGIN_ENTRY_SYMBOL(void);

#ifdef __cplusplus
}
#endif

#endif /* FAUST_PLUGIN_H */
