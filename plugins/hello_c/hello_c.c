/*
 * A plugin in plain C against faust/plugin.h only.
 *
 *   agent hello_c:        logs "hello from C: <value>" for every message.
 *   timer hello_c_timer:  sends "hello" to the agent named by its config key `agent` (required).
 */
#include <faust/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The host-API table and context every instance is created with. */
typedef struct hello_instance {
  const faust_host_api* host;
  faust_host_context* ctx;
  const char* target_agent; /* timer only; owned by the host, lives as long as the instance */
} hello_instance;

static void set_error(faust_error* error, const char* message) {
  snprintf(error->message, sizeof error->message, "%s", message);
}

static hello_instance* new_instance(const faust_host_api* host, faust_host_context* ctx, faust_error* error) {
  hello_instance* instance = calloc(1, sizeof *instance);
  if (instance == NULL) {
    set_error(error, "out of memory");
    return NULL;
  }
  instance->host = host;
  instance->ctx = ctx;
  return instance;
}

static void* hello_agent_create(const faust_host_api* host, faust_host_context* ctx, faust_error* error) {
  return new_instance(host, ctx, error);
}

static void hello_destroy(void* instance) { free(instance); }

static faust_status hello_agent_handle(void* opaque, const faust_message* message, faust_error* error) {
  static const char prefix[] = "hello from C: ";
  hello_instance* instance = opaque;
  /* The value is bytes, not a C string: copy it behind the prefix and terminate. */
  char* line = malloc(sizeof prefix + message->value_size);
  if (line == NULL) {
    set_error(error, "out of memory");
    return FAUST_ERROR;
  }
  memcpy(line, prefix, sizeof prefix - 1);
  if (message->value_size > 0) memcpy(line + sizeof prefix - 1, message->value, message->value_size);
  line[sizeof prefix - 1 + message->value_size] = '\0';
  instance->host->log(instance->ctx, FAUST_LOG_INFO, line);
  free(line);
  return FAUST_OK;
}

static void* hello_timer_create(const faust_host_api* host, faust_host_context* ctx, faust_error* error) {
  const char* target = host->config_get(ctx, "agent");
  hello_instance* instance;
  if (target == NULL || target[0] == '\0') {
    set_error(error, "config key 'agent' is required (the agent to send \"hello\" to)");
    return NULL;
  }
  instance = new_instance(host, ctx, error);
  if (instance != NULL) instance->target_agent = target;
  return instance;
}

static faust_status hello_timer_tick(void* opaque, faust_error* error) {
  static const char greeting[] = "hello";
  hello_instance* instance = opaque;
  faust_send_request request;
  memset(&request, 0, sizeof request);
  request.struct_size = sizeof request;
  request.agent = instance->target_agent;
  request.value = greeting;
  request.value_size = sizeof greeting - 1;
  return instance->host->send(instance->ctx, &request, error);
}

static const faust_agent_def hello_agent = {"hello_c", hello_agent_create, hello_destroy, hello_agent_handle};
static const faust_timer_def hello_timer = {"hello_c_timer", hello_timer_create, hello_destroy,
                                            hello_timer_tick};

static const faust_agent_def* const hello_agents[] = {&hello_agent};
static const faust_timer_def* const hello_timers[] = {&hello_timer};

/* Designated initializers: fields a later ABI minor appends start zeroed. */
static const faust_plugin_descriptor hello_descriptor = {
    .abi_major = FAUST_PLUGIN_ABI_MAJOR,
    .abi_minor = FAUST_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(faust_plugin_descriptor),
    .name = "hello_c",
    .version = "1.0.0",
    .agents = hello_agents,
    .agent_count = sizeof hello_agents / sizeof hello_agents[0],
    .timers = hello_timers,
    .timer_count = sizeof hello_timers / sizeof hello_timers[0],
};

FAUST_PLUGIN_EXPORT const faust_plugin_descriptor* FAUST_PLUGIN_ENTRY_SYMBOL(void) {
  return &hello_descriptor;
}
