# Prometheus metrics of the model server. Each worker counts its own requests and writes a
# snapshot to the run directory about once a second; the supervisor serves the sum on the
# metrics port, so a scrape sees the whole pod's counters (not one worker's), and a replaced
# worker's counts are kept (folded into `retired`), so counters never go down.

latency_buckets <- c(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# Per route, one numeric vector that C (src/http.c, rmlops_record) updates in place on every
# request: the latency buckets, their sum and count, then a count per status code from 100 to
# 599. Updating lists and a key per route and code in R cost as much as the rest of the request's
# logging. The vectors never leave `m`: snapshots are copies.
n_buckets <- length(latency_buckets) + 1L
status_codes <- 100:599

new_metrics <- function() {
  m <- new.env(parent = emptyenv())
  m$routes <- new.env(parent = emptyenv())
  m$other_codes <- new.env(parent = emptyenv())
  m$dirty <- FALSE
  m$written <- 0
  m$feedback <- c(count = 0, reward = 0, truth = 0)
  m
}

# One Seldon feedback message: its reward (NULL when none) and whether it carried a truth.
record_feedback <- function(m, reward, truth) {
  m$feedback <- m$feedback + c(1, reward %||% 0, if (truth) 1 else 0)
  m$dirty <- TRUE
  invisible()
}

record_request <- function(m, route, status, seconds) {
  v <- m$routes[[route]]
  if (is.null(v)) {
    v <- numeric(n_buckets + 2L + length(status_codes))
    assign(route, v, envir = m$routes)
  }
  if (!.Call(C_rmlops_record, v, latency_buckets, as.integer(status), as.numeric(seconds))) {
    key <- paste0(route, "\t", status)
    m$other_codes[[key]] <- (m$other_codes[[key]] %||% 0) + 1
  }
  m$dirty <- TRUE
  invisible()
}

# list(counts = c("<route>\t<code>" = n, ...), hist = list(<route> = list(buckets, sum, count)))
metrics_snapshot <- function(m) {
  counts <- numeric()
  hist <- list()
  for (route in ls(m$routes, sorted = FALSE)) {
    v <- m$routes[[route]]
    hist[[route]] <- list(buckets = v[seq_len(n_buckets)], sum = v[[n_buckets + 1L]], count = v[[n_buckets + 2L]])
    by_code <- v[-seq_len(n_buckets + 2L)]
    seen <- which(by_code > 0)
    if (length(seen)) counts[paste0(route, "\t", status_codes[seen])] <- by_code[seen]
  }
  other <- unlist(as.list(m$other_codes))
  list(counts = c(counts, other), hist = hist, feedback = m$feedback)
}

merge_snapshots <- function(snaps) {
  counts <- numeric()
  hist <- list()
  feedback <- c(count = 0, reward = 0, truth = 0)
  for (s in snaps) {
    if (is.null(s)) next
    if (length(s$feedback) == 3L) feedback <- feedback + s$feedback
    for (k in names(s$counts)) counts[[k]] <- (if (k %in% names(counts)) counts[[k]] else 0) + s$counts[[k]]
    for (r in names(s$hist)) {
      h <- s$hist[[r]]
      if (is.null(hist[[r]])) {
        hist[[r]] <- h
      } else {
        hist[[r]]$buckets <- hist[[r]]$buckets + h$buckets
        hist[[r]]$sum <- hist[[r]]$sum + h$sum
        hist[[r]]$count <- hist[[r]]$count + h$count
      }
    }
  }
  list(counts = counts, hist = hist, feedback = feedback)
}

# Written atomically (rename), so the supervisor never reads half a file.
write_metrics_file <- function(m, path) {
  tmp <- paste0(path, ".tmp")
  ok <- tryCatch({
    saveRDS(metrics_snapshot(m), tmp, compress = FALSE)
    file.rename(tmp, path)
  }, error = function(e) FALSE)
  if (isTRUE(ok)) m$dirty <- FALSE
  invisible(ok)
}

read_metrics_file <- function(path) {
  if (!file.exists(path)) return(NULL)
  tryCatch(readRDS(path), error = function(e) NULL)
}

prom_escape <- function(x) gsub("\n", "\\n", gsub("\"", "\\\"", gsub("\\", "\\\\", x, fixed = TRUE), fixed = TRUE), fixed = TRUE)

# NA is not a number of the exposition format (NaN is): a missing value is written NaN.
prom_num <- function(x) {
  ifelse(is.na(x), "NaN", ifelse(is.infinite(x), ifelse(x > 0, "+Inf", "-Inf"), sprintf("%.15g", x)))
}

# Text exposition format 0.0.4. `gauges`: model load time, info labels, worker counts.
render_prometheus <- function(snap, gauges) {
  out <- character()
  add <- function(...) out <<- c(out, paste0(...))
  add("# HELP rmlops_requests_total HTTP requests answered, by route and status code.")
  add("# TYPE rmlops_requests_total counter")
  keys <- sort(names(snap$counts))
  for (k in keys) {
    parts <- strsplit(k, "\t", fixed = TRUE)[[1L]]
    add(sprintf('rmlops_requests_total{route="%s",code="%s"} %s', prom_escape(parts[[1L]]), parts[[2L]],
                prom_num(snap$counts[[k]])))
  }
  add("# HELP rmlops_request_duration_seconds Time from a request's first byte to its answer, by route.")
  add("# TYPE rmlops_request_duration_seconds histogram")
  for (r in sort(names(snap$hist))) {
    h <- snap$hist[[r]]
    cum <- cumsum(h$buckets)
    le <- c(prom_num(latency_buckets), "+Inf")
    add(sprintf('rmlops_request_duration_seconds_bucket{route="%s",le="%s"} %s', prom_escape(r), le, prom_num(cum)))
    add(sprintf('rmlops_request_duration_seconds_sum{route="%s"} %s', prom_escape(r), prom_num(h$sum)))
    add(sprintf('rmlops_request_duration_seconds_count{route="%s"} %s', prom_escape(r), prom_num(h$count)))
  }
  fb <- if (length(snap$feedback) == 3L) snap$feedback else c(0, 0, 0)
  add("# HELP rmlops_feedback_total Seldon feedback messages received.")
  add("# TYPE rmlops_feedback_total counter")
  add("rmlops_feedback_total ", prom_num(fb[[1L]]))
  add("# HELP rmlops_feedback_truth_total Seldon feedback messages that carried a truth.")
  add("# TYPE rmlops_feedback_truth_total counter")
  add("rmlops_feedback_truth_total ", prom_num(fb[[3L]]))
  add("# HELP rmlops_feedback_reward_sum Sum of the rewards of Seldon feedback messages (a reward may be negative).")
  add("# TYPE rmlops_feedback_reward_sum gauge")
  add("rmlops_feedback_reward_sum ", prom_num(fb[[2L]]))
  add("# HELP rmlops_model_load_seconds Time the model took to load and pass its self-check.")
  add("# TYPE rmlops_model_load_seconds gauge")
  add("rmlops_model_load_seconds ", prom_num(gauges$load_seconds %||% NaN))
  add("# HELP rmlops_model_ready 1 once the model is loaded and at least one worker runs.")
  add("# TYPE rmlops_model_ready gauge")
  add("rmlops_model_ready ", if (isTRUE(gauges$ready)) "1" else "0")
  if (!is.null(gauges$info)) {
    add("# HELP rmlops_model_info The model served: name, version and MLflow run id.")
    add("# TYPE rmlops_model_info gauge")
    add(sprintf('rmlops_model_info{model_name="%s",model_version="%s",run_id="%s"} 1',
                prom_escape(gauges$info$name), prom_escape(gauges$info$version), prom_escape(gauges$info$run_id)))
  }
  add("# HELP rmlops_workers Worker processes configured.")
  add("# TYPE rmlops_workers gauge")
  add("rmlops_workers ", prom_num(gauges$workers %||% 0))
  add("# HELP rmlops_workers_running Worker processes running.")
  add("# TYPE rmlops_workers_running gauge")
  add("rmlops_workers_running ", prom_num(gauges$running %||% 0))
  add("# HELP rmlops_worker_restarts_total Workers replaced after they died.")
  add("# TYPE rmlops_worker_restarts_total counter")
  add("rmlops_worker_restarts_total ", prom_num(gauges$restarts %||% 0))
  paste0(paste(out, collapse = "\n"), "\n")
}
