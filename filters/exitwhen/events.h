/* blockkit exitwhen filter: the events that can end the server. */
#ifndef BLOCKKIT_EXITWHEN_EVENTS_H
#define BLOCKKIT_EXITWHEN_EVENTS_H

#include <stdbool.h>
#include <sys/types.h>

enum event_type {
  EVENT_FILE_CREATED, EVENT_FILE_DELETED, EVENT_PIPE_CLOSED,
  EVENT_PROCESS_EXITS, EVENT_SCRIPT,
};

struct event {
  enum event_type type;
  char *arg;                    /* path or command */
  int fd;                       /* pipe-closed */
  pid_t pid;                    /* process-exits */
};

/* Parses "file-created:PATH" and the like; errors name KEY=VALUE. */
extern int event_parse (struct event *ev, const char *key,
                        const char *value);
/* Parses the value of a single-event key such as exit-when-file-created. */
extern int event_parse_typed (struct event *ev, enum event_type type,
                              const char *key, const char *value);
extern void event_free (struct event *ev);

/* Has the event happened?  Called from the watcher thread only. */
extern bool event_happened (struct event *ev);

#endif /* BLOCKKIT_EXITWHEN_EVENTS_H */
