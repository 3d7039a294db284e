# The drift monitor's R step (issue 22 §2): the ModelMonitor CronJob's second init container runs
# `rmlops::monitor_main()` on a window of the payload log that the first one fetched from S3. It
# compares the window's requests, responses and feedback with the training reference of the
# model version the alias names (reference.R, drift.R), logs a monitoring run to MLflow and
# writes the figures as Prometheus text for the payload sink to serve. docs/monitoring-drift.md.

#' Default settings of the drift monitor
#'
#' What [monitor_main()] uses when the contract's `monitorEnv` variables are unset. The
#' thresholds and the fewest rows were chosen from the false-positive rates measured on unshifted
#' windows of iris, mtcars and credit (`bench/r/drift-fpr.R`, docs/monitoring-drift.md): with
#' 200 rows, PSI > 0.25, KS > 0.2 and chi-square p < 0.001 raised an alarm in 0.1 %, 3.1 % and
#' 0.2 % of 1000 windows; with 100 rows the PSI of ten bins alone passed 0.25 in 11 % to 23 %
#' of them.
#' @return A list: `window_seconds` (one day), `min_rows`, `psi`, `ks`, `chisq_p`.
#' @examples
#' monitor_defaults()$psi
#' @export
monitor_defaults <- function() {
  list(window_seconds = 86400, min_rows = 200, psi = 0.25, ks = 0.2, chisq_p = 0.001)
}

# Lines longer than this are not read as records (counted as bad): a record is one event, and
# one hostile line must not cost the monitor its memory.
monitor_max_line_bytes <- 8L * 1024L * 1024L
# Records stamped up to this many seconds after the monitor's clock still count (clock skew).
monitor_clock_skew <- 60

# "2026-12-04T10:00:00.123Z" or with a numeric offset -> POSIXct (UTC); NA when it is not one.
parse_rfc3339 <- function(x) {
  if (!is.character(x) || length(x) != 1L || is.na(x)) return(NA_real_)
  m <- regmatches(x, regexec("^([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?)([Zz]|[+-][0-9]{2}:[0-9]{2})$", x))[[1L]]
  if (length(m) != 5L) return(NA_real_)
  t <- as.numeric(as.POSIXct(paste(m[[2L]], m[[3L]]), format = "%Y-%m-%d %H:%M:%OS", tz = "UTC"))
  if (is.na(t)) return(NA_real_)
  off <- m[[5L]]
  if (!toupper(off) == "Z") {
    sign <- if (substr(off, 1L, 1L) == "-") -1 else 1
    t <- t - sign * (as.numeric(substr(off, 2L, 3L)) * 3600 + as.numeric(substr(off, 5L, 6L)) * 60)
  }
  t
}

#' Read a window of the payload log
#'
#' Reads every `*.jsonl` file under `dir` (the payload sink's objects, docs/payload-logging.md)
#' and keeps the records received in the `window_seconds` before `now` (the sink's `received`,
#' else the event's `occurrenceTime`), once per `id` (delivery is at least once). A line that is
#' not a JSON object with a `reqType`, or longer than 8 MiB, or without a readable time, is
#' counted and skipped: the log's content is never trusted.
#' @param dir Folder of the window's JSONL files.
#' @param window_seconds Seconds of log to keep.
#' @param now The end of the window (Unix seconds).
#' @return A list: `records` (parsed records, each a list) and `counts` (`files`, `lines`,
#'   `bad`, `outside_window`, `duplicates`).
#' @examples
#' dir <- tempfile(); dir.create(dir)
#' writeLines(c('{"id":"1","reqType":"io.seldon.serving.inference.request","puid":"p",',
#'              'not json'), file.path(dir, "a.jsonl"))
#' read_payload_window(dir, 3600)$counts
#' @export
read_payload_window <- function(dir, window_seconds, now = as.numeric(Sys.time())) {
  counts <- list(files = 0L, lines = 0L, bad = 0L, outside_window = 0L, duplicates = 0L)
  files <- sort(list.files(dir, pattern = "\\.jsonl$", recursive = TRUE, full.names = TRUE))
  records <- list()
  seen <- new.env(hash = TRUE, parent = emptyenv())
  for (f in files) {
    counts$files <- counts$files + 1L
    lines <- tryCatch(suppressWarnings(readLines(f, warn = FALSE, encoding = "UTF-8")), error = function(e) NULL)
    if (is.null(lines)) {
      counts$bad <- counts$bad + 1L
      next
    }
    for (line in lines) {
      # useBytes: a line that is not UTF-8 must reach parse_record() (and be counted), not stop here.
      if (grepl("^[[:space:]]*$", line, useBytes = TRUE)) next
      counts$lines <- counts$lines + 1L
      rec <- parse_record(line)
      if (is.null(rec)) {
        counts$bad <- counts$bad + 1L
        next
      }
      t <- parse_rfc3339(rec$received %||% rec$occurrenceTime %||% NA_character_)
      if (is.na(t)) {
        counts$bad <- counts$bad + 1L
        next
      }
      if (t <= now - window_seconds || t > now + monitor_clock_skew) {
        counts$outside_window <- counts$outside_window + 1L
        next
      }
      id <- rec$id
      if (is.character(id) && length(id) == 1L && nzchar(id)) {
        if (!is.null(seen[[id]])) {
          counts$duplicates <- counts$duplicates + 1L
          next
        }
        assign(id, TRUE, envir = seen)
      }
      records[[length(records) + 1L]] <- rec
    }
  }
  list(records = records, counts = counts)
}

# One JSONL line -> the record (a list), or NULL when it is not a JSON object with a string
# reqType. The line is checked by C first (src/wire.c), as the server checks a body: jsonlite
# 1.8.4 turns some malformed input into a format string (docs/r-server.md).
parse_record <- function(line) {
  if (nchar(line, type = "bytes") > monitor_max_line_bytes) return(NULL)
  if (!validUTF8(line)) return(NULL)
  raw <- charToRaw(line)
  if (!is.null(json_problem(raw))) return(NULL)
  rec <- tryCatch(jsonlite::parse_json(line, simplifyVector = FALSE), error = function(e) NULL)
  if (!is_json_object(rec) || !is.character(rec$reqType) || length(rec$reqType) != 1L) return(NULL)
  rec
}

# The features as the monitor decodes them: factor and character values are read as strings
# without the server's level check, so a level the training never saw is counted as unseen
# (drift), not dropped as a bad request.
monitor_spec <- function(features) {
  input_spec(lapply(features, function(f) {
    if (f$type %in% c("factor", "character")) list(name = f$name, type = "character") else list(name = f$name, type = f$type)
  }))
}

payload_body <- function(payload) {
  charToRaw(enc2utf8(as.character(jsonlite::toJSON(payload, auto_unbox = TRUE, digits = NA, null = "null"))))
}

# A request's payload -> a data frame of the features, in the Seldon or the v2 protocol.
decode_request_payload <- function(payload, spec) {
  if (!is_json_object(payload)) stop("the request payload is not a JSON object")
  body <- payload_body(payload)
  frame <- if (!is.null(payload$inputs)) decode_v2_request(body, spec)$frame else decode_request(body, spec)
  attr(frame, "rmlops_puid") <- NULL
  attr(frame, "rmlops_tensor") <- NULL
  frame
}

# The values of a Seldon message's data (ndarray or tensor) or of a v2 answer's outputs: a
# vector for one column, a matrix with column names for several. NULL when there are none.
message_values <- function(msg) {
  if (!is_json_object(msg)) return(NULL)
  if (is_json_array(msg$outputs)) {
    cols <- lapply(msg$outputs, function(o) if (is_json_object(o)) flat_cells(o$data) else NULL)
    names <- vapply(msg$outputs, function(o) if (is_json_object(o) && is.character(o$name) && length(o$name) == 1L) o$name else "", "")
    if (length(cols) == 0L || any(vapply(cols, is.null, NA))) return(NULL)
    if (length(cols) == 1L) return(cols[[1L]])
    if (length(unique(lengths(cols))) != 1L) return(NULL)
    return(matrix(unlist(cols), ncol = length(cols), dimnames = list(NULL, names)))
  }
  data <- msg$data
  if (!is_json_object(data)) return(NULL)
  names <- if (is_json_array(data$names)) vapply(data$names, function(n) if (is.character(n) && length(n) == 1L) n else "", "") else character()
  if (is_json_object(data$tensor)) {
    values <- flat_cells(data$tensor$values)
    shape <- suppressWarnings(as.numeric(unlist(data$tensor$shape)))
    if (is.null(values) || length(shape) == 0L || anyNA(shape)) return(NULL)
    if (length(shape) == 1L || shape[[2L]] == 1) return(values)
    if (prod(shape) != length(values)) return(NULL)
    return(matrix(values, ncol = shape[[2L]], byrow = TRUE, dimnames = list(NULL, if (length(names) == shape[[2L]]) names)))
  }
  rows <- data$ndarray
  if (!is_json_array(rows)) return(NULL)
  if (length(rows) == 0L) return(character())
  if (all(vapply(rows, is_json_array, NA))) {
    width <- unique(lengths(rows))
    if (length(width) != 1L || width == 0L) return(NULL)
    cells <- flat_cells(rows)
    if (is.null(cells)) return(NULL)
    if (width == 1L) return(cells)
    return(matrix(cells, ncol = width, byrow = TRUE, dimnames = list(NULL, if (length(names) == width) names)))
  }
  flat_cells(rows)
}

# Nested arrays of scalars -> one atomic vector (NULL cells become NA); NULL for objects.
flat_cells <- function(x) {
  if (is.null(x)) return(NULL)
  if (!is.list(x)) return(x)
  if (is_json_object(x)) return(NULL)
  parts <- lapply(x, function(el) if (is.null(el)) NA else if (is.list(el)) flat_cells(el) else el)
  if (any(vapply(parts, is.null, NA)) || any(vapply(parts, function(p) !is.atomic(p), NA))) return(NULL)
  unlist(parts, use.names = FALSE)
}

# Predictions in the shape of the output kind: numbers, strings (classes, logicals as "TRUE"
# and "FALSE"), or a matrix of probabilities with the reference's classes as columns.
as_predictions <- function(values, summary) {
  if (is.null(values)) stop("no predictions in the response")
  if (summary$kind == "probabilities") {
    if (!is.matrix(values) || !setequal(colnames(values), summary$levels)) {
      stop("the response's columns are not the reference's classes")
    }
    m <- values[, summary$levels, drop = FALSE]
    storage.mode(m) <- "double"
    return(m)
  }
  if (is.matrix(values)) values <- values[, 1L]
  if (summary$kind == "numeric") {
    if (!is.numeric(values)) stop("the response's predictions are not numbers")
    return(as.numeric(values))
  }
  if (summary$kind == "logical") return(as.character(as.logical(values)))
  as.character(values)
}

#' Compare a window of the payload log with the training reference
#'
#' Decodes the window's requests (Seldon `ndarray`/`tensor` with `names`, or Open Inference
#' Protocol v2 `inputs`, as the server accepts them), responses and feedback, and computes the
#' figures: per feature `psi` and `ks` (numbers) or `psi` and `chisq_p` (factors, logicals,
#' characters) with its alarm; the prediction shift (`psi`); and the performance (`rmse` or
#' `accuracy`) on feedback that carries the truth (`truth` in the Seldon feedback message),
#' joined to the response of the same `puid` (else the feedback's own `response`). Records that
#' cannot be decoded are counted (`bad`) and skipped. With fewer than `min_rows` request rows,
#' no drift figure or alarm is computed (`status` says so).
#' @param window A window from [read_payload_window()].
#' @param reference A reference from [read_reference()].
#' @param thresholds List with `psi`, `ks`, `chisq_p`.
#' @param min_rows Fewest request rows to compute drift on.
#' @param event_types The payload log's event types (`request`, `response`, `feedback`).
#' @return A list: `status` (`ok` or `too_few_rows`), `events` (request events), `rows`,
#'   `responses`, `feedback`, `bad` (records skipped, with the window's own), `drift` (per feature:
#'   its figures and `alarm`), `prediction_shift`, `performance`.
#' @export
monitor_window <- function(window, reference, thresholds, min_rows = monitor_defaults()$min_rows,
                           event_types = rmlops_contract()$payloadEventTypes) {
  features <- reference$summary$features
  spec <- monitor_spec(features)
  pred_summary <- reference$summary$prediction
  bad <- window$counts$bad
  frames <- list()
  events <- 0L
  responses <- list()
  feedback <- list()
  for (rec in window$records) {
    type <- rec$reqType
    if (identical(type, event_types$request)) {
      events <- events + 1L
      frame <- tryCatch(decode_request_payload(rec$payload, spec), error = function(e) NULL)
      if (is.null(frame)) bad <- bad + 1L else frames[[length(frames) + 1L]] <- frame
    } else if (identical(type, event_types$response)) {
      pred <- tryCatch(as_predictions(message_values(rec$payload), pred_summary), error = function(e) NULL)
      if (is.null(pred)) {
        bad <- bad + 1L
      } else {
        responses[[length(responses) + 1L]] <- list(puid = scalar_string(rec$puid), pred = pred)
      }
    } else if (identical(type, event_types$feedback)) {
      feedback[[length(feedback) + 1L]] <- rec
    }
  }
  rows <- do.call(rbind, c(frames, list(make.row.names = FALSE)))
  preds <- bind_predictions(lapply(responses, function(r) r$pred))
  out <- c(list(events = events, responses = length(responses), feedback = length(feedback), bad = bad),
           drift_figures(rows, preds, reference, thresholds, min_rows))
  joined <- join_feedback(feedback, responses, pred_summary)
  out$bad <- out$bad + joined$bad
  if (length(joined$truth) > 0L) out$performance <- performance(pred_summary$kind, joined$pred, joined$truth)
  out
}

#' @describeIn monitor_window The figures of decoded rows and predictions (what the monitor
#'   computes once the window is decoded; the false-positive bench calls it directly).
#' @param rows A data frame of the window's request rows (the reference's features), or `NULL`.
#' @param predictions The window's predictions (a vector, or a matrix of class probabilities), or
#'   `NULL`.
#' @export
drift_figures <- function(rows, predictions, reference, thresholds, min_rows = monitor_defaults()$min_rows) {
  n_rows <- if (is.null(rows)) 0L else nrow(rows)
  out <- list(status = if (n_rows >= min_rows) "ok" else "too_few_rows", rows = n_rows, drift = list(),
              prediction_shift = list(), performance = list())
  if (out$status != "ok") return(out)
  for (f in reference$summary$features) {
    x <- rows[[f$name]]
    figures <- if (f$type %in% c("numeric", "integer")) {
      numeric_drift(f, reference$sample[[f$name]], x)
    } else {
      categorical_drift(f, if (f$type == "logical") as.character(as.logical(x)) else as.character(x))
    }
    figures$alarm <- drift_alarm(figures, thresholds)
    out$drift[[f$name]] <- figures
  }
  if (NROW(predictions) >= min_rows) out$prediction_shift <- prediction_shift(reference$summary$prediction, predictions)
  out
}

scalar_string <- function(x) if (is.character(x) && length(x) == 1L && !is.na(x)) x else NA_character_

bind_predictions <- function(preds) {
  if (length(preds) == 0L) return(NULL)
  if (is.matrix(preds[[1L]])) do.call(rbind, preds) else unlist(preds, use.names = FALSE)
}

# Truth from each feedback record, paired with the predictions of the response of the same
# puid (the last one in the window), or with the feedback message's own `response`.
join_feedback <- function(feedback, responses, summary) {
  by_puid <- list()
  for (r in responses) if (!is.na(r$puid)) by_puid[[r$puid]] <- r$pred
  truth_kind <- if (summary$kind == "numeric") "numeric" else "class"
  preds <- list()
  truths <- list()
  bad <- 0L
  for (rec in feedback) {
    msg <- rec$payload
    if (!is_json_object(msg) || is.null(msg$truth)) next # feedback with a reward only
    ok <- tryCatch({
      truth <- message_values(msg$truth)
      if (is.null(truth)) stop("no truth values")
      if (is.matrix(truth)) truth <- if (truth_kind == "class" && is.numeric(truth) && ncol(truth) == length(summary$levels)) {
        summary$levels[max.col(truth, ties.method = "first")]
      } else {
        truth[, 1L]
      }
      puid <- scalar_string(rec$puid)
      pred <- if (!is.na(puid) && !is.null(by_puid[[puid]])) by_puid[[puid]] else as_predictions(message_values(msg$response), summary)
      if (NROW(pred) != length(truth)) stop("truth and predictions differ in length")
      preds[[length(preds) + 1L]] <- pred
      truths[[length(truths) + 1L]] <- if (truth_kind == "numeric") suppressWarnings(as.numeric(truth)) else as.character(truth)
      TRUE
    }, error = function(e) FALSE)
    if (!ok) bad <- bad + 1L
  }
  list(pred = bind_predictions(preds), truth = unlist(truths, use.names = FALSE), bad = bad)
}

# ---- Prometheus text -------------------------------------------------------------------------

prom_label <- function(x) {
  x <- gsub("\\\\", "\\\\\\\\", x)
  x <- gsub("\"", "\\\\\"", x)
  gsub("\n", "\\\\n", x)
}

prom_number <- function(x) {
  if (is.na(x)) return("NaN")
  if (is.infinite(x)) return(if (x > 0) "+Inf" else "-Inf")
  sprintf("%.15g", x)
}

#' The monitor's figures as Prometheus text
#'
#' The text exposition format (0.0.4) of a [monitor_window()] result, with the metric names and
#' labels of the contract's `metrics` (`monitorDrift{feature,statistic}`,
#' `monitorDriftAlarm{feature}`, `monitorPredictionShift{statistic}`,
#' `monitorPerformance{metric}`, `monitorWindowEvents`, `monitorLastSuccess`). Figures that could
#' not be computed (too few rows, no feedback) are left out, not written as 0.
#' @param result A result of [monitor_window()].
#' @param now The run's time (Unix seconds), the last-success gauge's value.
#' @param metrics The contract's metric names.
#' @return One string, ending in a newline.
#' @export
monitor_prometheus_text <- function(result, now, metrics = rmlops_contract()$metrics) {
  out <- character()
  family <- function(name, help, samples) {
    if (length(samples) == 0L) return()
    out <<- c(out, sprintf("# HELP %s %s", name, help), sprintf("# TYPE %s gauge", name), samples)
  }
  sample <- function(name, labels, value) {
    lab <- if (length(labels)) paste0("{", paste0(names(labels), "=\"", vapply(labels, prom_label, ""), "\"", collapse = ","), "}") else ""
    paste0(name, lab, " ", prom_number(value))
  }
  drift <- character()
  alarms <- character()
  for (f in names(result$drift)) {
    d <- result$drift[[f]]
    for (s in intersect(c("psi", "ks", "chisq_p"), names(d))) {
      if (!is.na(d[[s]])) drift <- c(drift, sample(metrics$monitorDrift, c(feature = f, statistic = s), d[[s]]))
    }
    alarms <- c(alarms, sample(metrics$monitorDriftAlarm, c(feature = f), as.numeric(isTRUE(d$alarm))))
  }
  family(metrics$monitorDrift, "Drift of a feature against the training reference.", drift)
  family(metrics$monitorDriftAlarm, "1 when a feature's drift is over its threshold.", alarms)
  shift <- if (!is.null(result$prediction_shift$psi) && !is.na(result$prediction_shift$psi)) {
    sample(metrics$monitorPredictionShift, c(statistic = "psi"), result$prediction_shift$psi)
  }
  family(metrics$monitorPredictionShift, "Shift of the prediction distribution against the training reference.", shift)
  perf <- character()
  for (m in setdiff(names(result$performance), "n")) {
    perf <- c(perf, sample(metrics$monitorPerformance, c(metric = m), result$performance[[m]]))
  }
  family(metrics$monitorPerformance, "Performance on the window's feedback that carried the truth.", perf)
  family(metrics$monitorWindowEvents, "Request events in the last monitored window.",
         sample(metrics$monitorWindowEvents, character(), result$events))
  family(metrics$monitorLastSuccess, "Unix time of the monitor's last successful run.",
         sample(metrics$monitorLastSuccess, character(), now))
  paste0(paste(out, collapse = "\n"), "\n")
}

# Writes `text` to a temporary file beside `path` and renames it into place: the uploader never
# reads a half-written file.
write_text_atomically <- function(path, text) {
  dir <- dirname(path)
  if (!dir.exists(dir)) stop(config_error(sprintf("the folder of the metrics file %s does not exist", path)))
  tmp <- tempfile(paste0(".", basename(path), ".tmp-"), tmpdir = dir)
  on.exit(unlink(tmp), add = TRUE)
  write_bytes_checked(tmp, charToRaw(enc2utf8(text)))
  if (!file.rename(tmp, path)) stop(retryable_error(sprintf("cannot rename the metrics file into %s", path)))
  invisible(path)
}

# ---- the reference and MLflow ----------------------------------------------------------------

# Where the reference comes from: a local bundle (the contract's modelUri set to a folder or
# file:// URI), else the model version `models:/<name>@<alias>` through MLflow.
monitor_reference <- function(model_uri, client_factory, scratch) {
  parsed <- parse_model_uri(model_uri)
  ref_dir <- rmlops_contract()$monitor$referenceDir
  if (parsed$kind == "dir") {
    return(list(reference = read_reference(file.path(parsed$path, ref_dir)), name = NULL, version = NULL))
  }
  client <- client_factory()
  info <- resolve_model_source(client, parsed)
  dest <- tempfile("reference-", tmpdir = scratch)
  tryCatch(mlflow_download_files(client, paste(info$source, ref_dir, sep = "/"), reference_files, dest),
           mlflow_error = function(e) {
             if (is.na(e$status) || e$status < 500L) {
               stop(config_error(sprintf(paste("model version %s of %s has no training reference (%s): retrain it with this",
                                               "rmlops and a reference (see ?build_reference); %s"),
                                         info$version %||% "?", info$name %||% model_uri, ref_dir, conditionMessage(e))))
             }
             stop(e)
           })
  list(reference = read_reference(dest), name = info$name, version = info$version, run_id = info$run_id)
}

mlflow_key <- function(x) gsub("[^A-Za-z0-9_./ -]", "_", x)

monitor_mlflow_metrics <- function(result) {
  m <- list(window_events = result$events, window_rows = result$rows, window_responses = result$responses,
            window_feedback = result$feedback, bad_records = result$bad,
            alarms = sum(vapply(result$drift, function(d) isTRUE(d$alarm), NA)))
  for (f in names(result$drift)) {
    d <- result$drift[[f]]
    for (s in intersect(c("psi", "ks", "chisq_p"), names(d))) if (!is.na(d[[s]])) m[[mlflow_key(paste("drift", f, s, sep = "."))]] <- d[[s]]
    m[[mlflow_key(paste("drift_alarm", f, sep = "."))]] <- as.numeric(isTRUE(d$alarm))
  }
  if (!is.null(result$prediction_shift$psi) && !is.na(result$prediction_shift$psi)) m$prediction_shift.psi <- result$prediction_shift$psi
  for (k in setdiff(names(result$performance), "n")) m[[paste0("performance.", k)]] <- result$performance[[k]]
  if (!is.null(result$performance$n)) m$performance.n <- result$performance$n
  m
}

# The monitoring run: one per window, in the experiment `<model>-monitoring`, tagged with the
# model version it compared with; the figures are its metrics, the settings its params, and the
# Prometheus text an artifact.
log_monitoring_run <- function(client, model_name, version, labels, settings, result, text) {
  experiment_id <- mlflow_get_or_create_experiment(client, paste0(model_name, "-monitoring"))
  tags <- list(mlflow.source.type = "JOB", rmlops.program = "rmlops::monitor_main", rmlops.model_name = model_name,
               rmlops.model_version = as.character(version %||% ""), rmlops.deployment = labels$deployment,
               rmlops.predictor = labels$predictor, rmlops.window_start = labels$window_start,
               rmlops.window_end = labels$window_end, rmlops.window_seconds = as.character(settings$window_seconds),
               rmlops.status = result$status)
  run <- mlflow_create_run(client, experiment_id, run_name = sprintf("monitor-%s-%s", labels$deployment, labels$window_end),
                           tags = tags)
  tryCatch({
    params <- list(psi_threshold = settings$psi, ks_threshold = settings$ks, chisq_p_threshold = settings$chisq_p,
                   window_seconds = settings$window_seconds, min_rows = settings$min_rows)
    mlflow_log_batch(client, run$run_id, params = lapply(params, format), metrics = monitor_mlflow_metrics(result))
    dir <- tempfile("monitor-artifacts-")
    dir.create(dir)
    writeLines(text, file.path(dir, "metrics.prom"), sep = "")
    mlflow_upload_dir(client, run$artifact_uri, dir, "monitoring")
    mlflow_update_run(client, run$run_id, "FINISHED")
  }, error = function(e) {
    try(mlflow_update_run(client, run$run_id, "FAILED"), silent = TRUE)
    stop(e)
  })
  run$run_id
}

# Value of the monitor's environment variable the contract calls `key` (in `monitorEnv`); NA
# when unset or empty.
monitor_env <- function(contract, key) {
  name <- contract$monitorEnv[[key]]
  if (is.null(name)) stop(sprintf("no environment variable '%s' in the contract's monitorEnv", key))
  value <- Sys.getenv(name, unset = "")
  if (nzchar(value)) value else NA_character_
}

monitor_settings <- function(contract) {
  d <- monitor_defaults()
  num <- function(key, default, ok, what) {
    name <- contract$monitorEnv[[key]]
    raw <- monitor_env(contract, key)
    if (is.na(raw)) return(default)
    v <- suppressWarnings(as.numeric(raw))
    if (is.na(v) || !ok(v)) stop(config_error(sprintf("%s must be %s, got '%s'", name, what, raw)))
    v
  }
  list(
    window_seconds = num("windowSeconds", d$window_seconds, function(v) v > 0, "a number of seconds > 0"),
    min_rows = num("minRows", d$min_rows, function(v) v >= 1 && v == round(v), "a whole number >= 1"),
    psi = num("psiThreshold", d$psi, function(v) v > 0, "a number > 0"),
    ks = num("ksThreshold", d$ks, function(v) v > 0 && v <= 1, "a number in (0, 1]"),
    chisq_p = num("chisqPThreshold", d$chisq_p, function(v) v > 0 && v < 1, "a number in (0, 1)")
  )
}

#' Entry point of the drift monitor
#'
#' What the `ModelMonitor` CronJob runs (`Rscript -e 'quit(status = rmlops::monitor_main())'`).
#' Settings come from the environment variables the contract names ([rmlops_contract()]):
#' `monitorEnv` (`payloadDir`, `metricsFile`, `windowSeconds`, `minRows`, `psiThreshold`,
#' `ksThreshold`, `chisqPThreshold`, `deployment`, `predictor`; defaults in
#' [monitor_defaults()]) and `env` (`trackingUri`, `registeredModelName`, `modelAlias`, default
#' `champion`, `mlflowWaitSeconds`; `modelUri` instead reads the reference of a local bundle
#' folder and needs no MLflow).
#'
#' It reads the window ([read_payload_window()]), fetches the training reference of the model
#' version the alias names, computes the figures ([monitor_window()]), logs a monitoring run to
#' MLflow (experiment `<model>-monitoring`) when a tracking URI is set, and writes the
#' Prometheus text ([monitor_prometheus_text()]) to the metrics file atomically (temporary file
#' and rename). Each run logs one JSON line with its figures.
#'
#' Exit statuses: 0 when the metrics file was written (also when the window had too few rows:
#' the figures are then left out, the window's events and the last-success time are written);
#' 2 (the contract's `trainingConfigErrorExitCode`) for a configuration error that a retry will
#' not fix: a missing or invalid setting, a payload folder that does not exist, a model version
#' without a training reference; 1 for anything else, e.g. MLflow unreachable or the alias not
#' set yet, or the metrics file not writable. On a non-zero status no metrics file is written,
#' so the last-success time goes stale and the alert on it fires.
#' @param contract The contract, see [rmlops_contract()].
#' @param now The end of the window (Unix seconds); the current time by default.
#' @return An integer exit status.
#' @examples
#' \dontrun{
#' quit(status = rmlops::monitor_main(), save = "no")
#' }
#' @export
monitor_main <- function(contract = rmlops_contract(), now = as.numeric(Sys.time())) {
  status_of(contract, {
    payload_dir <- monitor_env(contract, "payloadDir")
    metrics_file <- monitor_env(contract, "metricsFile")
    for (k in c("payloadDir", "metricsFile")) {
      if (is.na(monitor_env(contract, k))) stop(config_error(sprintf("%s is not set", contract$monitorEnv[[k]])))
    }
    if (!dir.exists(payload_dir)) stop(config_error(sprintf("%s=%s is not a folder", contract$monitorEnv$payloadDir, payload_dir)))
    settings <- monitor_settings(contract)
    tracking <- contract_env(contract, "trackingUri")
    model_name <- contract_env(contract, "registeredModelName")
    alias <- contract_env(contract, "modelAlias", "champion")
    model_uri <- contract_env(contract, "modelUri")
    if (is.na(model_uri)) {
      if (is.na(tracking) || is.na(model_name)) {
        stop(config_error(sprintf("set %s and %s (the reference is the model version of alias %s), or %s to a bundle folder",
                                  contract_env_name(contract, "trackingUri"), contract_env_name(contract, "registeredModelName"),
                                  alias, contract_env_name(contract, "modelUri"))))
      }
      model_uri <- sprintf("models:/%s@%s", utils::URLencode(model_name, reserved = TRUE), alias)
    }
    client <- NULL
    client_factory <- function() {
      if (is.null(client)) {
        if (is.na(tracking)) stop(config_error(sprintf("%s needs %s", model_uri, contract_env_name(contract, "trackingUri"))))
        client <<- mlflow_client(tracking, wait_seconds = contract_env_number(contract, "mlflowWaitSeconds", 300))
        mlflow_wait(client, contract$paths$mlflowHealth)
      }
      client
    }
    scratch <- tempfile("monitor-")
    dir.create(scratch)
    on.exit(unlink(scratch, recursive = TRUE), add = TRUE)
    ref <- monitor_reference(model_uri, client_factory, scratch)
    window <- read_payload_window(payload_dir, settings$window_seconds, now)
    result <- monitor_window(window, ref$reference, settings, settings$min_rows, contract$payloadEventTypes)
    text <- monitor_prometheus_text(result, now, contract$metrics)
    labels <- list(deployment = monitor_env(contract, "deployment") %|na|% "", predictor = monitor_env(contract, "predictor") %|na|% "",
                   window_start = utc_stamp(now - settings$window_seconds), window_end = utc_stamp(now))
    run_id <- NULL
    if (!is.na(tracking)) {
      run_id <- log_monitoring_run(client_factory(), ref$name %||% model_name, ref$version, labels, settings, result, text)
    }
    write_text_atomically(metrics_file, text)
    log_line(list(level = if (any(vapply(result$drift, function(d) isTRUE(d$alarm), NA))) "warn" else "info",
                  msg = "monitored window", status = result$status, model = ref$name %||% model_name, version = ref$version,
                  deployment = labels$deployment, predictor = labels$predictor, window_start = labels$window_start,
                  window_end = labels$window_end, files = window$counts$files, lines = window$counts$lines,
                  outside_window = window$counts$outside_window, duplicates = window$counts$duplicates,
                  events = result$events, rows = result$rows, bad = result$bad,
                  alarms = I(as.character(names(Filter(function(d) isTRUE(d$alarm), result$drift)))),
                  prediction_shift = result$prediction_shift$psi, performance = result$performance, run_id = run_id))
  })
}

`%|na|%` <- function(a, b) if (is.null(a) || is.na(a)) b else a

utc_stamp <- function(t) format(as.POSIXct(t, origin = "1970-01-01", tz = "UTC"), "%Y-%m-%dT%H:%M:%SZ")
