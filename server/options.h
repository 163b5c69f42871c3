/* blockkit: command line settings that several files need (main.c). */
#ifndef BLOCKKIT_OPTIONS_H
#define BLOCKKIT_OPTIONS_H

#include <stdbool.h>

extern const char *unixsocket;  /* -U */
extern const char *port;        /* -p */
extern const char *ipaddr;      /* -i */
extern const char *pidfile;     /* -P */
extern const char *run;         /* --run */
extern bool foreground;         /* -f */
extern bool listen_stdin;       /* -s */
extern bool stdio_in_use;
extern bool print_uri_option;   /* --print-uri */
extern bool swap_option;        /* --swap */
extern bool vsock_option;       /* --vsock */
extern const char *selinux_label_option; /* --selinux-label */

/* captive.c */
extern int run_exit_status;
extern void run_command (void);
extern void start_run_waiter (void);
extern void write_pidfile (void);
extern void daemonize (void);
extern void daemon_ready (void);
extern void open_std_fds (void);
extern void redirect_stdio (void);
extern void take_stdio_for_client (int *in, int *out);
extern void print_uri (void);

/* usage.c */
extern void usage (void);
extern void display_version (void);
extern void dump_config (void);

#endif /* BLOCKKIT_OPTIONS_H */
