/*
 * Process control R lacks: a SIGTERM/SIGINT flag the event loop polls, fork/reap/_exit for the
 * worker pool, and a non-blocking listening socket.
 *
 * Why C: R installs no SIGTERM handler, and as PID 1 in a container the kernel then drops
 * SIGTERM entirely, so a rollout waits for the SIGKILL. The handler only sets a flag; all work
 * happens in R between socket events. SA_RESTART is left off so a select() waiting in R returns
 * early (EINTR) when the signal arrives.
 */
#define R_NO_REMAP
#include <R.h>
#include <Rinternals.h>
#include <R_ext/Rdynload.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal = 0;

static void on_stop_signal(int sig) { stop_signal = sig; }

static int set_handler(int sig) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  return sigaction(sig, &sa, NULL);
}

SEXP rmlops_signals_install(void) {
  stop_signal = 0;
  int ok = set_handler(SIGTERM) == 0 && set_handler(SIGINT) == 0;
  return Rf_ScalarLogical(ok);
}

/* The signal number received since install (0: none). */
SEXP rmlops_signal_pending(void) { return Rf_ScalarInteger((int)stop_signal); }

/*
 * fork(); in the child, the pending flag is cleared and the child asks for SIGTERM when its
 * parent dies, so a killed supervisor never leaves workers holding the port.
 */
SEXP rmlops_fork(void) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    stop_signal = 0;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* The parent may have died between fork() and prctl(). */
    if (getppid() != parent) stop_signal = SIGTERM;
    /* A worker that faults (a segfault in a model's C code) dies of the signal at once, as the
     * supervisor expects: R's own handlers would print a traceback that is not a JSON log line
     * and run R's exit sequence, which removes the session directory the supervisor shares. The
     * supervisor logs the death, with the signal, as one JSON line and replaces the worker. */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    signal(SIGILL, SIG_DFL);
  }
  return Rf_ScalarInteger((int)pid);
}

/*
 * Non-blocking waitpid() on each pid: -1 still running (or not ours), else the exit status, or
 * 128 + signal number for a child killed by a signal.
 */
SEXP rmlops_reap(SEXP pids) {
  int n = LENGTH(pids);
  SEXP out = PROTECT(Rf_allocVector(INTSXP, n));
  for (int i = 0; i < n; i++) {
    int status = 0;
    pid_t r = waitpid((pid_t)INTEGER(pids)[i], &status, WNOHANG);
    if (r <= 0) {
      INTEGER(out)[i] = (r < 0 && errno == ECHILD) ? -2 : -1;
    } else if (WIFEXITED(status)) {
      INTEGER(out)[i] = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      INTEGER(out)[i] = 128 + WTERMSIG(status);
    } else {
      INTEGER(out)[i] = -1;
    }
  }
  UNPROTECT(1);
  return out;
}

/*
 * Leaves a forked worker without running R's exit sequence, which would delete the session
 * temporary directory the supervisor and its other workers still use. exit_group is what
 * _exit() does; called directly because only a worker (never the R session itself) may end here.
 */
SEXP rmlops_exit_now(SEXP status) {
  syscall(SYS_exit_group, Rf_asInteger(status));
  return R_NilValue;
}

/*
 * Finds the listening TCP socket bound to `port` among this process's descriptors and makes it
 * non-blocking. Workers share it: all wake on one connection, one accept() wins, and the others
 * must get EAGAIN instead of blocking in accept() until the next connection.
 */
static int find_listener(int want) {
  long maxfd = sysconf(_SC_OPEN_MAX);
  if (maxfd < 0 || maxfd > 65536) maxfd = 65536;
  for (int fd = 0; fd < maxfd; fd++) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    struct sockaddr_storage addr;
    socklen_t alen = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &alen) != 0) continue;
    int bound = -1;
    if (addr.ss_family == AF_INET) bound = ntohs(((struct sockaddr_in *)&addr)->sin_port);
    if (addr.ss_family == AF_INET6) bound = ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    if (bound != want) continue;
    return fd;
  }
  return -1;
}

SEXP rmlops_listener_nonblocking(SEXP port) {
  int fd = find_listener(Rf_asInteger(port));
  if (fd < 0) return Rf_ScalarInteger(-1);
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return Rf_ScalarInteger(-1);
  return Rf_ScalarInteger(fd);
}

/*
 * The accept lock: only the worker holding it waits on the shared listener. Without it every
 * worker wakes for a connection, one accept() wins, and R's socketAccept() in the others waits
 * for a whole second (its smallest timeout) for a connection that is not there. Each worker
 * opens the file itself: flock() locks belong to an open file description, which fork() shares.
 */
SEXP rmlops_lock_open(SEXP path) {
  int fd = open(CHAR(STRING_ELT(path, 0)), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  return Rf_ScalarInteger(fd);
}

SEXP rmlops_lock_try(SEXP fd) {
  return Rf_ScalarLogical(flock(Rf_asInteger(fd), LOCK_EX | LOCK_NB) == 0);
}

SEXP rmlops_lock_release(SEXP fd) {
  flock(Rf_asInteger(fd), LOCK_UN);
  return R_NilValue;
}

/*
 * Reads the text of a JSON array of rows of exactly p numbers ("[[1,2],[3,4]]", any JSON
 * whitespace) into a numeric vector, row-major. jsonlite builds one R object per cell, which
 * for 1000 x 4 costs more than predicting them; this reads the same text in one pass. Strict:
 * the JSON number grammar (RFC 8259 6), finite values only. Anything else returns NULL and the
 * caller falls back to the full parser, which says what is wrong.
 */
static const char *skip_ws(const char *c) {
  while (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r') c++;
  return c;
}

static const char *json_number_end(const char *c) {
  if (*c == '-') c++;
  if (*c == '0') {
    c++;
  } else if (*c >= '1' && *c <= '9') {
    while (*c >= '0' && *c <= '9') c++;
  } else {
    return NULL;
  }
  if (*c == '.') {
    c++;
    if (!(*c >= '0' && *c <= '9')) return NULL;
    while (*c >= '0' && *c <= '9') c++;
  }
  if (*c == 'e' || *c == 'E') {
    c++;
    if (*c == '+' || *c == '-') c++;
    if (!(*c >= '0' && *c <= '9')) return NULL;
    while (*c >= '0' && *c <= '9') c++;
  }
  return c;
}

SEXP rmlops_parse_rows(SEXP text, SEXP ncol) {
  const char *c = CHAR(STRING_ELT(text, 0));
  int p = Rf_asInteger(ncol);
  size_t cap = 4096, n = 0;
  double *v = (double *)malloc(cap * sizeof(double));
  if (v == NULL || p < 1) goto fail;
  c = skip_ws(c);
  if (*c++ != '[') goto fail;
  for (;;) {
    c = skip_ws(c);
    if (*c++ != '[') goto fail;
    for (int j = 0; j < p; j++) {
      c = skip_ws(c);
      const char *end = json_number_end(c);
      if (end == NULL) goto fail;
      char *stop;
      double x = strtod(c, &stop);
      if (stop != end || !isfinite(x)) goto fail;
      if (n == cap) {
        cap *= 2;
        double *w = (double *)realloc(v, cap * sizeof(double));
        if (w == NULL) goto fail;
        v = w;
      }
      v[n++] = x;
      c = skip_ws(end);
      if (j < p - 1 && *c++ != ',') goto fail;
    }
    if (*c++ != ']') goto fail;
    c = skip_ws(c);
    if (*c == ',') { c++; continue; }
    if (*c++ == ']') break;
    goto fail;
  }
  if (*skip_ws(c) != '\0') goto fail;
  SEXP out = PROTECT(Rf_allocVector(REALSXP, (R_xlen_t)n));
  memcpy(REAL(out), v, n * sizeof(double));
  free(v);
  UNPROTECT(1);
  return out;
fail:
  free(v);
  return R_NilValue;
}

/* src/http.c */
SEXP rmlops_head_end(SEXP buf);
SEXP rmlops_parse_head(SEXP buf, SEXP len);
SEXP rmlops_json_check(SEXP body, SEXP max_depth);
SEXP rmlops_decode_v2(SEXP body, SEXP features);
SEXP rmlops_format_response(SEXP status, SEXP reasons, SEXP content_type, SEXP body, SEXP keep_alive,
                            SEXP extra_names, SEXP extra_values, SEXP head_only);
SEXP rmlops_now(void);
SEXP rmlops_record(SEXP v, SEXP bounds, SEXP status, SEXP seconds);
SEXP rmlops_is_digits(SEXP x, SEXP max);
SEXP rmlops_log_request(SEXP prefix, SEXP seconds, SEXP method, SEXP path, SEXP status, SEXP ms, SEXP rows, SEXP puid);
SEXP rmlops_json_ndarray(SEXP x);
SEXP rmlops_decode_seldon(SEXP body, SEXP features);
SEXP rmlops_accept(SEXP listener);
SEXP rmlops_recv(SEXP fd, SEXP n);
SEXP rmlops_send(SEXP fd, SEXP bytes);
SEXP rmlops_close(SEXP fd);
SEXP rmlops_close_clients(void);
SEXP rmlops_poll(SEXP fds, SEXP write, SEXP timeout);

static const R_CallMethodDef call_methods[] = {
  {"rmlops_head_end", (DL_FUNC)&rmlops_head_end, 1},
  {"rmlops_parse_head", (DL_FUNC)&rmlops_parse_head, 2},
  {"rmlops_json_check", (DL_FUNC)&rmlops_json_check, 2},
  {"rmlops_decode_v2", (DL_FUNC)&rmlops_decode_v2, 2},
  {"rmlops_format_response", (DL_FUNC)&rmlops_format_response, 8},
  {"rmlops_now", (DL_FUNC)&rmlops_now, 0},
  {"rmlops_record", (DL_FUNC)&rmlops_record, 4},
  {"rmlops_is_digits", (DL_FUNC)&rmlops_is_digits, 2},
  {"rmlops_log_request", (DL_FUNC)&rmlops_log_request, 8},
  {"rmlops_json_ndarray", (DL_FUNC)&rmlops_json_ndarray, 1},
  {"rmlops_decode_seldon", (DL_FUNC)&rmlops_decode_seldon, 2},
  {"rmlops_accept", (DL_FUNC)&rmlops_accept, 1},
  {"rmlops_recv", (DL_FUNC)&rmlops_recv, 2},
  {"rmlops_send", (DL_FUNC)&rmlops_send, 2},
  {"rmlops_close", (DL_FUNC)&rmlops_close, 1},
  {"rmlops_close_clients", (DL_FUNC)&rmlops_close_clients, 0},
  {"rmlops_poll", (DL_FUNC)&rmlops_poll, 3},
  {"rmlops_parse_rows", (DL_FUNC)&rmlops_parse_rows, 2},
  {"rmlops_lock_open", (DL_FUNC)&rmlops_lock_open, 1},
  {"rmlops_lock_try", (DL_FUNC)&rmlops_lock_try, 1},
  {"rmlops_lock_release", (DL_FUNC)&rmlops_lock_release, 1},
  {"rmlops_signals_install", (DL_FUNC)&rmlops_signals_install, 0},
  {"rmlops_signal_pending", (DL_FUNC)&rmlops_signal_pending, 0},
  {"rmlops_fork", (DL_FUNC)&rmlops_fork, 0},
  {"rmlops_reap", (DL_FUNC)&rmlops_reap, 1},
  {"rmlops_exit_now", (DL_FUNC)&rmlops_exit_now, 1},
  {"rmlops_listener_nonblocking", (DL_FUNC)&rmlops_listener_nonblocking, 1},
  {NULL, NULL, 0}
};

void R_init_rmlops(DllInfo *dll) {
  R_registerRoutines(dll, NULL, call_methods, NULL, NULL);
  R_useDynamicSymbols(dll, FALSE);
  R_forceSymbols(dll, TRUE);
}
