#' Serve a model bundle over Seldon Core's v1 protocol and the Open Inference Protocol (v2)
#'
#' Starts the HTTP server on `port` at once, answering liveness (`/health/ping`,
#' `/v2/health/live`) while the model loads in a forked child process, and readiness
#' (`/health/status`, `/v2/health/ready`) with 200 only once the bundle is loaded, has predicted
#' its own example rows and every worker runs. Predictions: `POST /predict` (what the Seldon
#' executor calls), `POST /api/v1.0/predictions` and `POST /v2/models/<name>/infer`; metadata at
#' `GET /metadata` and `GET /v2/models/<name>`. Prometheus metrics are served on `metrics_port`.
#' Every client mistake is a 4xx with a status body. The behaviour is described in
#' `docs/r-server.md` in the repository.
#'
#' Once the model is loaded, `workers` processes are forked; they share the listening socket. A
#' worker that dies is replaced. On SIGTERM or SIGINT the server stops accepting, finishes the
#' requests under way and returns `TRUE`. Loading is retried with backoff; after `wait_seconds`
#' without a model the server stops and returns `FALSE`.
#'
#' @param model_uri `models:/<name>@<alias>`, `models:/<name>/<version>`, `runs:/<id>/<path>`,
#'   `file://<dir>` or a directory.
#' @param port Port to bind on all interfaces; the Seldon executor's ports are refused.
#' @param tracking_uri MLflow tracking URI, needed for `models:/` and `runs:/` URIs.
#' @param wait_seconds How long to try loading the model before giving up.
#' @param max_body Largest request body in bytes (413 above it).
#' @param contract The contract, see [rmlops_contract()] (ports and paths).
#' @param workers Number of worker processes.
#' @param metrics_port Port of the Prometheus metrics.
#' @param metrics_path Path of the Prometheus metrics.
#' @param model_name Name of the model in the v2 paths; by default the registered model's name
#'   (or the bundle directory's name).
#' @return `TRUE` after a stop signal, `FALSE` when the server gave up loading the model.
#' @examples
#' \dontrun{
#' serve_model("models:/mtcars-lm@champion", port = 9000, tracking_uri = "http://mlflow:5000")
#' }
#' @export
serve_model <- function(model_uri, port = contract$modelHttpPort, tracking_uri = NA_character_, wait_seconds = 300,
                        max_body = 5 * 1024^2, contract = rmlops_contract(), workers = 1L,
                        metrics_port = contract$modelMetricsPort, metrics_path = contract$paths$modelMetrics,
                        model_name = NA_character_) {
  check_port(port, "port", contract)
  check_port(metrics_port, "metrics port", contract)
  if (metrics_port == port) {
    stop(config_error(sprintf("the metrics port %d is the HTTP port: give them different ports", as.integer(port))))
  }
  if (!is.character(metrics_path) || length(metrics_path) != 1L || !grepl("^/[!-~]*$", metrics_path) ||
      grepl("[?#]", metrics_path)) {
    stop(config_error(sprintf("invalid metrics path '%s': expected a path such as /prometheus", format(metrics_path))))
  }
  if (!is.numeric(max_body) || length(max_body) != 1L || !is.finite(max_body) || max_body < 1024 || max_body > 2^31) {
    stop(config_error(sprintf("invalid request size limit %s: give a number of bytes from 1024 to 2147483648",
                              format(max_body))))
  }
  if (!is.numeric(workers) || length(workers) != 1L || !is.finite(workers) || workers != round(workers) ||
      workers < 1 || workers > 64) {
    stop(config_error(sprintf("invalid number of workers %s: give a whole number from 1 to 64", format(workers))))
  }
  if (!is.numeric(wait_seconds) || length(wait_seconds) != 1L || is.na(wait_seconds) || wait_seconds < 0) {
    stop(config_error(sprintf("invalid wait %s: give a number of seconds", format(wait_seconds))))
  }
  if (is.null(model_uri) || is.na(model_uri) || !nzchar(model_uri)) {
    stop(config_error("no model URI: give models:/<name>@<alias>, models:/<name>/<version>, runs:/<id>/<path> or a directory"))
  }
  tryCatch(parse_model_uri(model_uri), error = function(e) stop(config_error(conditionMessage(e))))
  client_factory <- function() {
    if (is.na(tracking_uri)) stop(config_error(sprintf("a tracking URI is needed to resolve %s", model_uri)))
    # A hung MLflow must not hold a loader attempt for long: it is retried instead.
    mlflow_client(tracking_uri, wait_seconds = 0, request_timeout = 30)
  }
  load_fn <- function() {
    info <- materialise_model(model_uri, client_factory, tempdir())
    list(bundle = read_bundle(info$dir), info = info)
  }
  http_sock <- bind_port(port)
  metrics_sock <- tryCatch(bind_port(metrics_port), error = function(e) {
    close(http_sock)
    stop(e)
  })
  install_signal_handlers()
  log_line(list(level = "info", msg = "listening", host = "0.0.0.0", port = port, metrics_port = metrics_port,
                workers = as.integer(workers), model_uri = model_uri, pid = Sys.getpid()))
  supervise_server(http_sock, metrics_sock, load_fn, wait_seconds, http_server_options(max_body = max_body),
                   contract$paths, as.integer(workers), metrics_path, model_name, port)
}

check_port <- function(port, what, contract) {
  if (!is.numeric(port) || length(port) != 1L || is.na(port) || port != round(port) || port < 1 || port > 65535) {
    stop(config_error(sprintf("invalid %s %s: give a whole number from 1 to 65535", what, format(port))))
  }
  if (port %in% contract$executorPorts) {
    stop(config_error(sprintf(paste("refusing to bind %s %d: the Seldon executor sidecar owns ports %s in every predictor",
                                    "pod. Use %d (name the container port '%s')."),
                              what, port, paste(contract$executorPorts, collapse = " and "),
                              if (what == "port") contract$modelHttpPort else contract$modelMetricsPort,
                              if (what == "port") contract$modelPortName else "metrics")))
  }
  invisible(port)
}

probe_paths <- function(paths) c(paths$healthPing, paths$healthStatus, paths$v2Live, paths$v2Ready)

# Request log line and metrics. The line is formatted by hand: jsonlite per request costs more
# than a small prediction, and the fields are numbers and a path restricted to printable ASCII.
make_request_log <- function(metrics, paths) {
  table <- route_table(paths)
  minute <- -1
  prefix <- ""
  function(method, path, status, started, rows, puid = NULL) {
    now <- now_seconds()
    seconds <- now - started
    # A duration is never NaN or negative on /prometheus or in the log (both must always parse).
    if (is.na(seconds) || seconds < 0) seconds <- 0
    record_request(metrics, route_label(path, table), status, seconds)
    # The timestamp's date-and-minute part is formatted once a minute.
    m <- now %/% 60
    if (m != minute) {
      minute <<- m
      prefix <<- format(as.POSIXct(m * 60, origin = "1970-01-01", tz = "UTC"), "%Y-%m-%dT%H:%M:", tz = "UTC")
    }
    # {"ts":"<prefix>SS.mmmZ","method":..,"path":..,"status":..,"duration_ms":..,"rows":..}, with " and
    # \ escaped in method and path, formatted and written by C (src/http.c): sprintf() and two
    # gsub() calls per request cost more than the rest of the logging.
    .Call(C_rmlops_log_request, prefix, now - m * 60, method, path, as.integer(status), seconds * 1000, rows,
          if (is.null(puid)) NULL else json_values(puid))
    invisible()
  }
}

# The supervisor: serves probes and metrics while the model loads, then forks the workers, keeps
# their number, serves the summed metrics and stops them on a signal.
supervise_server <- function(http_sock, metrics_sock, load_fn, wait_seconds, opts, paths, workers,
                             metrics_path, model_name, port) {
  # The pool's shared state lives beside R's session temporary directory, not in it: a worker
  # that dies through R's fatal-error path (a segfault in a model's C code, an abort) removes
  # the session directory it shares with the supervisor on its way out, and must not take the
  # pool file, the accept lock and the other workers' metrics with it.
  rundir <- tempfile("rmlops-run-", tmpdir = dirname(tempdir()))
  dir.create(rundir, showWarnings = FALSE, mode = "0700")
  on.exit(unlink(rundir, recursive = TRUE), add = TRUE)
  pool_file <- file.path(rundir, "pool")
  state <- new_model_state(model_name)
  own <- new_metrics()
  server <- new_http_server(opts, make_request_log(own, paths), probe_paths(paths))
  pool <- new.env(parent = emptyenv())
  pool$pids <- rep(NA_integer_, workers)
  pool$started <- rep(NA_real_, workers)
  pool$next_start <- rep(0, workers)
  pool$restarts <- 0
  pool$quick_deaths <- rep(0L, workers)
  pool$running <- 0L
  pool$stopping <- FALSE
  pool$kill_at <- NA_real_
  pool$retired <- NULL
  gave_up <- FALSE
  loader <- make_loader(state, load_fn, wait_seconds, on_give_up = function(msg) {
    log_line(list(level = "error", msg = msg))
    gave_up <<- TRUE
  })

  # Whatever happened to the run directory, the supervisor goes on: it recreates what is missing.
  write_pool <- function() {
    running <- sum(!is.na(pool$pids))
    if (!identical(running, pool$running) || !file.exists(pool_file)) {
      pool$running <- running
      tryCatch({
        if (!dir.exists(rundir)) dir.create(rundir, showWarnings = FALSE, recursive = TRUE, mode = "0700")
        writeLines(sprintf("%d %d", running, workers), pool_file)
      }, error = function(e) log_line(list(level = "warn", msg = "cannot write the pool file", error = conditionMessage(e))),
      warning = function(w) log_line(list(level = "warn", msg = "cannot write the pool file", error = conditionMessage(w))))
    }
  }
  metrics_file <- function(slot) file.path(rundir, sprintf("metrics-%d.rds", slot))

  start_worker <- function(slot) {
    pid <- fork_process()
    if (pid == 0L) {
      status <- tryCatch({
        worker_main(server, http_sock, metrics_sock, state, opts, paths, pool_file, metrics_file(slot), slot, workers)
        0L
      }, error = function(e) {
        log_line(list(level = "error", msg = "worker failed", worker = slot, error = conditionMessage(e)))
        1L
      })
      exit_worker(status)
    }
    if (pid < 0L) {
      log_line(list(level = "error", msg = "cannot start a worker (fork failed)", worker = slot))
      pool$next_start[[slot]] <- now_seconds() + 1
      return(invisible())
    }
    pool$pids[[slot]] <- pid
    pool$started[[slot]] <- now_seconds()
    log_line(list(level = "info", msg = "worker started", worker = slot, pid = pid))
  }

  supervise <- function() {
    live <- which(!is.na(pool$pids))
    if (length(live)) {
      codes <- reap_processes(pool$pids[live])
      for (k in which(codes != -1L)) {
        slot <- live[[k]]
        lived <- now_seconds() - pool$started[[slot]]
        if (!pool$stopping) {
          # A worker that keeps dying soon after its start would otherwise be re-forked in a
          # tight loop: 0.5 s, 1 s, 2 s ... up to 10 s while it lives less than 10 s each time.
          pool$quick_deaths[[slot]] <- if (lived < 10) pool$quick_deaths[[slot]] + 1L else 0L
          delay <- if (pool$quick_deaths[[slot]] == 0L) 0 else min(10, 0.5 * 2^(pool$quick_deaths[[slot]] - 1L))
          log_line(list(level = "error", msg = "worker died: replacing it", worker = slot, pid = pool$pids[[slot]],
                        exit = codes[[k]], signal = if (codes[[k]] > 128L) codes[[k]] - 128L else NULL,
                        lived_s = round(lived, 1), restart_in_s = delay))
          pool$restarts <- pool$restarts + 1
          pool$next_start[[slot]] <- now_seconds() + delay
        }
        pool$retired <- merge_snapshots(list(pool$retired, read_metrics_file(metrics_file(slot))))
        unlink(metrics_file(slot))
        pool$pids[[slot]] <- NA_integer_
        # R's fatal-error exit in the worker removed the session temporary directory it shared
        # with this process: recreate it, so later tempfile() calls here keep working.
        tempdir(check = TRUE)
      }
    }
    if (pool$stopping) {
      if (!is.na(pool$kill_at) && now_seconds() > pool$kill_at) {
        for (pid in pool$pids[!is.na(pool$pids)]) tools::pskill(pid, tools::SIGKILL)
      }
    } else {
      for (slot in which(is.na(pool$pids) & pool$next_start <= now_seconds())) start_worker(slot)
    }
    write_pool()
  }

  metrics_handler <- function(req) {
    if (!identical(req$path, metrics_path)) stop(not_found(sprintf("no route for %s: metrics are at %s", req$path, metrics_path)))
    if (!req$method %in% c("GET", "HEAD")) {
      e <- method_not_allowed(sprintf("%s accepts GET and HEAD only, not %s", metrics_path, req$method))
      e$headers <- c(Allow = "GET, HEAD")
      stop(e)
    }
    snaps <- c(list(metrics_snapshot(own), pool$retired),
               lapply(seq_len(workers), function(s) read_metrics_file(metrics_file(s))))
    body <- render_prometheus(merge_snapshots(snaps), list(
      load_seconds = state$load_seconds, ready = !is.null(state$bundle) && sum(!is.na(pool$pids)) >= 1L,
      info = state$info, workers = workers, running = sum(!is.na(pool$pids)), restarts = pool$restarts))
    list(status = 200L, body = body, content_type = "text/plain; version=0.0.4; charset=utf-8")
  }

  add_listener(server, http_sock, make_handler(state, paths, own), "http")
  add_listener(server, metrics_sock, metrics_handler, "metrics")
  forked <- FALSE
  on_tick <- function() {
    if (!forked) {
      if (!pool$stopping) loader()
      if (!is.null(state$bundle) && !pool$stopping) {
        # From here the workers answer on the HTTP port; this process only supervises.
        retire_listener(server, "http")
        if (listener_nonblocking(port) < 0L) {
          log_line(list(level = "warn", msg = "could not make the listening socket non-blocking", port = port))
        }
        forked <<- TRUE
        for (slot in seq_len(workers)) start_worker(slot)
        write_pool()
      }
    } else {
      # The supervisor must outlive anything a worker does: an error here is logged, and the
      # next round tries again.
      tryCatch(supervise(), error = function(e) {
        log_line(list(level = "error", msg = "supervising the workers failed: retrying", error = conditionMessage(e)))
      })
    }
  }
  on_signal <- function(sig) {
    log_line(list(level = "info", msg = "stop signal: finishing requests under way, then exiting", signal = sig,
                  pid = Sys.getpid(), workers = sum(!is.na(pool$pids))))
    pool$stopping <- TRUE
    attr(loader, "stop")()
    for (pid in pool$pids[!is.na(pool$pids)]) tools::pskill(pid, tools::SIGTERM)
    pool$kill_at <- now_seconds() + opts$drain_timeout + 2
    start_draining(server)
  }
  on.exit(close_all(server), add = TRUE)
  repeat {
    if (gave_up) break
    sig <- signal_pending()
    if (sig > 0L && !pool$stopping) on_signal(sig)
    if (pool$stopping && drained(server) && all(is.na(pool$pids))) break
    serve_once(server)
    on_tick()
  }
  if (gave_up) {
    for (pid in pool$pids[!is.na(pool$pids)]) tools::pskill(pid, tools::SIGKILL)
    return(FALSE)
  }
  log_line(list(level = "info", msg = "stopped", pid = Sys.getpid()))
  TRUE
}

# A worker: the supervisor's state (model loaded) and the shared HTTP listener, nothing else.
worker_main <- function(parent_server, http_sock, metrics_sock, state, opts, paths, pool_file, metrics_path_file, slot,
                        workers) {
  # Copies of the supervisor's sockets: closing them here leaves the supervisor's open.
  for (s in parent_server$conns) close_connection(s)
  try(close(metrics_sock), silent = TRUE)
  m <- new_metrics()
  server <- new_http_server(opts, make_request_log(m, paths), probe_paths(paths))
  state$unready <- function() {
    if (server$draining) return("shutting down")
    line <- tryCatch(readLines(pool_file, n = 1L, warn = FALSE), error = function(e) character())
    counts <- suppressWarnings(as.integer(strsplit(c(line, "")[[1L]], " ", fixed = TRUE)[[1L]]))
    # Ready while at least one worker runs: a dead worker is replaced, and the ones left serve.
    if (length(counts) == 2L && !anyNA(counts) && counts[[1L]] < 1L) {
      return(sprintf("%d of %d workers running", counts[[1L]], counts[[2L]]))
    }
    NULL
  }
  add_listener(server, http_sock, make_handler(state, paths, m), "http")
  # Only one worker at a time waits on the listener (the accept lock, see src/process.c). A
  # worker that has just accepted stays away from the lock for 5 ms (10 ms once it holds more
  # than one connection), long enough for another worker (which looks every 5 ms) to take the
  # next connection. A burst of keep-alive connections (the executor's, a load balancer's) then
  # spreads over the workers instead of piling on whichever waited first; a keep-alive
  # connection stays with the worker that accepted it, so an uneven split leaves a core idle for
  # as long as it lasts. The pause does not grow with the connections held: a backlog of many
  # connections must still drain fast (probes wait in it).
  lock_fd <- lock_open(file.path(dirname(pool_file), "accept.lock"))
  holding <- FALSE
  seen <- 0L
  next_try <- 0
  server$accepted <- 0L
  server$may_accept <- function() {
    holding <<- (workers == 1L || now_seconds() >= next_try) && (lock_fd < 0L || lock_try(lock_fd))
    holding
  }
  server$after_round <- function() {
    if (holding && lock_fd >= 0L) lock_release(lock_fd)
    holding <<- FALSE
    if (server$accepted > seen && workers > 1L) {
      open <- length(Filter(function(s) s$open, server$conns))
      next_try <<- now_seconds() + if (open > 1L) 0.01 else 0.005
    }
    seen <<- server$accepted
  }
  last_write <- 0
  on_tick <- function() {
    now <- now_seconds()
    if (m$dirty && now - last_write >= 1) {
      write_metrics_file(m, metrics_path_file)
      last_write <<- now
    }
  }
  run_server(server, on_tick, on_signal = function(sig) {
    log_line(list(level = "info", msg = "worker stopping", worker = slot, pid = Sys.getpid(), signal = sig))
    start_draining(server)
  })
  write_metrics_file(m, metrics_path_file)
  invisible()
}

#' @rdname train_main
#' @export
serve_main <- function(contract = rmlops_contract()) {
  status_of(contract, {
    model_uri <- contract_env(contract, "modelUri")
    if (is.na(model_uri)) model_uri <- storage_uri_model(contract)
    if (is.na(model_uri)) {
      stop(config_error(sprintf("%s is not set (nor %s): give models:/<name>@<alias>, models:/<name>/<version>, runs:/<id>/<path> or a directory",
                                contract_env_name(contract, "modelUri"), contract_env_name(contract, "storageUri"))))
    }
    stopped <- serve_model(
      model_uri = model_uri,
      port = serving_port(contract),
      tracking_uri = contract_env(contract, "trackingUri"),
      wait_seconds = contract_env_number(contract, "mlflowWaitSeconds", 300),
      max_body = contract_env_number(contract, "maxBodyBytes", 5 * 1024^2),
      contract = contract,
      workers = contract_env_number(contract, "workers", 1),
      metrics_port = contract_env_number(contract, "metricsPort", contract$modelMetricsPort),
      metrics_path = contract_env(contract, "metricsEndpoint", contract$paths$modelMetrics),
      model_name = contract_env(contract, "inferenceServiceName", contract_env(contract, "predictiveUnitId"))
    )
    if (!isTRUE(stopped)) stop(rmlops_condition("the model could not be loaded within the wait: stopping", "model_load_timeout"))
  })
}

# The port to bind: Seldon's operator injects PREDICTIVE_UNIT_HTTP_SERVICE_PORT, Knative (KServe)
# injects PORT. Both set and different means the pod's wiring is wrong: binding either one would
# leave the other's traffic unanswered, so that is a configuration error, not a guess.
serving_port <- function(contract) {
  seldon <- contract_env_number(contract, "httpPort", NA_real_)
  knative <- contract_env_number(contract, "port", NA_real_)
  if (!is.na(seldon) && !is.na(knative) && seldon != knative) {
    stop(config_error(sprintf("%s=%s and %s=%s disagree: set one of them, or both to the port the container declares",
                              contract_env_name(contract, "httpPort"), format(seldon), contract_env_name(contract, "port"),
                              format(knative))))
  }
  if (!is.na(seldon)) seldon else if (!is.na(knative)) knative else contract$modelHttpPort
}

# KServe's pod webhook downloads STORAGE_URI into /mnt/models before the container starts and
# rewrites the variable to that directory. A remote URI left as written means nothing downloaded
# it (no KServe webhook, or a pod made without KServe): the server cannot fetch s3:// itself.
storage_uri_model <- function(contract) {
  storage <- contract_env(contract, "storageUri")
  if (is.na(storage)) return(NA_character_)
  if (startsWith(storage, "/")) return(storage)
  stop(config_error(sprintf(paste("%s=%s was not downloaded: KServe's storage initializer replaces it with %s when it has fetched",
                                  "the model; outside KServe, set %s to the bundle's directory or to an MLflow URI"),
                            contract_env_name(contract, "storageUri"), storage, contract$kserveModelMountPath,
                            contract_env_name(contract, "modelUri"))))
}
