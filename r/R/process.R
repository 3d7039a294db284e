# Process control from src/process.c: stop signals, the worker pool's fork/reap/exit.

signal_state <- new.env(parent = emptyenv())
signal_state$installed <- FALSE

# Installs the SIGTERM/SIGINT handlers (once per process; a forked worker inherits them).
install_signal_handlers <- function() {
  if (!signal_state$installed) signal_state$installed <- .Call(C_rmlops_signals_install)
  invisible(signal_state$installed)
}

# The stop signal received (15 SIGTERM, 2 SIGINT), or 0. Always 0 until the handlers are installed,
# so code that never installs them (tests calling http_serve) behaves as before.
signal_pending <- function() {
  if (!signal_state$installed) return(0L)
  .Call(C_rmlops_signal_pending)
}

fork_process <- function() {
  flush(stdout())
  flush(stderr())
  .Call(C_rmlops_fork)
}

# Exit codes of finished children (-1 still running, -2 not our child), 128 + n when killed by signal n.
reap_processes <- function(pids) .Call(C_rmlops_reap, as.integer(pids))

# Ends a forked worker without R's exit sequence (which would remove the shared tempdir).
exit_worker <- function(status = 0L) {
  flush(stdout())
  flush(stderr())
  .Call(C_rmlops_exit_now, as.integer(status))
}

listener_nonblocking <- function(port) .Call(C_rmlops_listener_nonblocking, as.integer(port))

# The workers' accept lock (see src/process.c).
lock_open <- function(path) .Call(C_rmlops_lock_open, path)
lock_try <- function(fd) .Call(C_rmlops_lock_try, as.integer(fd))
lock_release <- function(fd) .Call(C_rmlops_lock_release, as.integer(fd))

#' @useDynLib rmlops, .registration = TRUE, .fixes = "C_"
NULL
