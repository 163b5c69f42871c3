/* blockkit: the chain's thread model, enforced.
 *
 * SERIALIZE_CONNECTIONS: one client at a time (connection lock).
 * SERIALIZE_ALL_REQUESTS: one request at a time across all clients
 *   (request lock around every call into the chain).
 * SERIALIZE_REQUESTS: one request at a time per client (one worker per
 *   connection, see transmission.c).
 * PARALLEL: no restriction.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

int thread_model = -1;

static pthread_mutex_t connection_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t all_requests_lock = PTHREAD_MUTEX_INITIALIZER;

const char *
name_of_thread_model (int model)
{
  switch (model) {
  case NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS:
    return "serialize_connections";
  case NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS:
    return "serialize_all_requests";
  case NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS:
    return "serialize_requests";
  case NBDKIT_THREAD_MODEL_PARALLEL:
    return "parallel";
  default:
    return "unknown";
  }
}

/* Asks B's layer after every layer below it: the plugin first, then the
 * filters from the inside out, as the established server does (a filter
 * may base its answer on what the layers below it said, through state
 * they set while answering).
 */
static void
ask_thread_models (struct backend *b)
{
  int m;

  if (b == NULL)
    return;
  ask_thread_models (b->next);
  m = b->thread_model (b);
  debug ("%s: thread_model: %s", b->name, name_of_thread_model (m));
  if (m < thread_model)
    thread_model = m;
}

/* The most restrictive model of any layer wins. */
void
lock_init_thread_model (void)
{
  thread_model = NBDKIT_THREAD_MODEL_PARALLEL;
  ask_thread_models (top);
  debug ("using thread model: %s", name_of_thread_model (thread_model));
}

void
lock_connection (void)
{
  if (thread_model <= NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS)
    pthread_mutex_lock (&connection_lock);
}

void
unlock_connection (void)
{
  if (thread_model <= NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS)
    pthread_mutex_unlock (&connection_lock);
}

void
lock_request (void)
{
  if (thread_model <= NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS)
    pthread_mutex_lock (&all_requests_lock);
}

void
unlock_request (void)
{
  if (thread_model <= NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS)
    pthread_mutex_unlock (&all_requests_lock);
}
