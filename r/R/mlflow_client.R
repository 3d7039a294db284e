# A pure-REST MLflow client (httr + jsonlite): tracking, registry and the artifact proxy.
# No Python and no S3 credentials: artifacts go through `mlflow server --serve-artifacts`.

mlflow_client <- function(tracking_uri, wait_seconds = 300, call_retries = 3L, sleep = Sys.sleep) {
  list(base = sub("/+$", "", tracking_uri), wait_seconds = wait_seconds,
       call_retries = call_retries, sleep = sleep)
}

mlflow_error <- function(message, status = NA_integer_, error_code = NA_character_) {
  structure(class = c("mlflow_error", "error", "condition"),
            list(message = message, call = NULL, status = status, error_code = error_code))
}

backoff_delays <- function(n, first = 0.25, cap = 5) pmin(cap, first * 2^(seq_len(n) - 1L))

# Waits for GET /health with exponential backoff until the deadline, instead of failing on the
# first refused connection (MLflow often starts after the job or the server pod).
mlflow_wait <- function(client, health_path) {
  deadline <- now_seconds() + client$wait_seconds
  attempt <- 0L
  repeat {
    attempt <- attempt + 1L
    ok <- tryCatch({
      r <- httr::GET(paste0(client$base, health_path), httr::timeout(10))
      httr::status_code(r) == 200L
    }, error = function(e) FALSE)
    if (ok) return(invisible(attempt))
    if (now_seconds() >= deadline) {
      stop(mlflow_error(sprintf("MLflow at %s not reachable after %.0f s (%d attempts)",
                                client$base, client$wait_seconds, attempt)))
    }
    delay <- min(backoff_delays(attempt)[[attempt]], max(0, deadline - now_seconds()))
    log_line(list(level = "info", msg = "waiting for MLflow", url = client$base, attempt = attempt, retry_in_s = delay))
    client$sleep(delay)
  }
}

# One HTTP exchange; transport errors and 5xx are retried a few times with backoff.
mlflow_http <- function(client, method, url, body = NULL, query = NULL, raw_body = NULL) {
  attempt <- 0L
  repeat {
    attempt <- attempt + 1L
    resp <- tryCatch({
      if (!is.null(raw_body)) {
        httr::VERB(method, url, body = raw_body, httr::content_type("application/octet-stream"), httr::timeout(120))
      } else if (!is.null(body)) {
        json <- as.character(jsonlite::toJSON(body, auto_unbox = TRUE, digits = NA))
        httr::VERB(method, url, body = json, httr::content_type_json(), httr::timeout(60))
      } else {
        httr::VERB(method, url, query = query, httr::timeout(60))
      }
    }, error = function(e) e)
    transient <- inherits(resp, "error") || httr::status_code(resp) >= 500L
    if (!transient || attempt > client$call_retries) break
    client$sleep(backoff_delays(attempt)[[attempt]])
  }
  if (inherits(resp, "error")) stop(mlflow_error(sprintf("%s %s failed: %s", method, url, conditionMessage(resp))))
  resp
}

parse_mlflow_response <- function(resp, what) {
  text <- httr::content(resp, as = "text", encoding = "UTF-8")
  parsed <- if (nzchar(text)) tryCatch(jsonlite::parse_json(text), error = function(e) NULL) else list()
  status <- httr::status_code(resp)
  if (status >= 300L) {
    code <- if (is.list(parsed)) parsed$error_code %||% NA_character_ else NA_character_
    msg <- if (is.list(parsed)) parsed$message %||% text else text
    stop(mlflow_error(sprintf("MLflow %s: HTTP %d %s: %s", what, status, code, msg), status, code))
  }
  parsed
}

mlflow_api <- function(client, method, endpoint, body = NULL, query = NULL) {
  resp <- mlflow_http(client, method, paste0(client$base, "/api/2.0/mlflow/", endpoint), body = body, query = query)
  parse_mlflow_response(resp, endpoint)
}

mlflow_get_or_create_experiment <- function(client, name) {
  found <- tryCatch(
    mlflow_api(client, "GET", "experiments/get-by-name", query = list(experiment_name = name)),
    mlflow_error = function(e) if (identical(e$error_code, "RESOURCE_DOES_NOT_EXIST")) NULL else stop(e)
  )
  if (!is.null(found)) return(found$experiment$experiment_id)
  mlflow_api(client, "POST", "experiments/create", body = list(name = name))$experiment_id
}

mlflow_create_run <- function(client, experiment_id, run_name, tags = list()) {
  body <- list(experiment_id = experiment_id, start_time = mlflow_timestamp(), run_name = run_name,
               tags = lapply(names(tags), function(k) list(key = k, value = as.character(tags[[k]]))))
  mlflow_api(client, "POST", "runs/create", body = body)$run$info
}

mlflow_timestamp <- function() round(as.numeric(Sys.time()) * 1000)

mlflow_log_batch <- function(client, run_id, params = list(), metrics = list()) {
  ts <- mlflow_timestamp()
  body <- list(
    run_id = run_id,
    params = lapply(names(params), function(k) list(key = k, value = as.character(params[[k]]))),
    metrics = lapply(names(metrics), function(k) list(key = k, value = metrics[[k]], timestamp = ts, step = 0L))
  )
  mlflow_api(client, "POST", "runs/log-batch", body = body)
  invisible()
}

mlflow_update_run <- function(client, run_id, status) {
  mlflow_api(client, "POST", "runs/update", body = list(run_id = run_id, status = status, end_time = mlflow_timestamp()))
  invisible()
}

# `mlflow-artifacts:/<exp>/<run>/artifacts` (optionally with an authority) -> `<exp>/<run>/artifacts`.
artifact_proxy_path <- function(uri) {
  if (!grepl("^mlflow-artifacts:", uri)) {
    stop(mlflow_error(sprintf(paste(
      "artifact location '%s' is not served by the MLflow artifact proxy: start the MLflow server with",
      "--serve-artifacts and without --default-artifact-root"), uri)))
  }
  path <- sub("^mlflow-artifacts:(//[^/]*)?/*", "", uri)
  sub("/+$", "", path)
}

artifact_url <- function(client, path) {
  segments <- strsplit(path, "/", fixed = TRUE)[[1L]]
  encoded <- vapply(segments, utils::URLencode, "", reserved = TRUE, USE.NAMES = FALSE)
  paste0(client$base, "/api/2.0/mlflow-artifacts/artifacts/", paste(encoded, collapse = "/"))
}

mlflow_upload_dir <- function(client, artifact_uri, local_dir, artifact_path) {
  root <- artifact_proxy_path(artifact_uri)
  for (f in list.files(local_dir, recursive = TRUE)) {
    bytes <- readBin(file.path(local_dir, f), "raw", file.size(file.path(local_dir, f)))
    resp <- mlflow_http(client, "PUT", artifact_url(client, paste(root, artifact_path, f, sep = "/")), raw_body = bytes)
    parse_mlflow_response(resp, paste("artifact upload of", f))
  }
  invisible(paste(artifact_uri, artifact_path, sep = "/"))
}

mlflow_download_files <- function(client, source_uri, files, dest) {
  root <- artifact_proxy_path(source_uri)
  dir.create(dest, recursive = TRUE, showWarnings = FALSE)
  for (f in files) {
    resp <- mlflow_http(client, "GET", artifact_url(client, paste(root, f, sep = "/")))
    if (httr::status_code(resp) != 200L) parse_mlflow_response(resp, paste("artifact download of", f))
    writeBin(httr::content(resp, as = "raw"), file.path(dest, f))
  }
  invisible(dest)
}

mlflow_ensure_registered_model <- function(client, name) {
  tryCatch(
    mlflow_api(client, "POST", "registered-models/create", body = list(name = name)),
    mlflow_error = function(e) if (identical(e$error_code, "RESOURCE_ALREADY_EXISTS")) NULL else stop(e)
  )
  invisible(name)
}

mlflow_create_model_version <- function(client, name, source, run_id) {
  mlflow_api(client, "POST", "model-versions/create",
             body = list(name = name, source = source, run_id = run_id))$model_version
}

mlflow_get_model_version <- function(client, name, version) {
  mlflow_api(client, "GET", "model-versions/get", query = list(name = name, version = version))$model_version
}

mlflow_wait_version_ready <- function(client, name, version, timeout = 300, poll = 0.5) {
  deadline <- now_seconds() + timeout
  repeat {
    mv <- mlflow_get_model_version(client, name, version)
    if (identical(mv$status, "READY")) return(mv)
    if (identical(mv$status, "FAILED_REGISTRATION")) {
      stop(mlflow_error(sprintf("model version %s/%s failed registration: %s", name, version, mv$status_message %||% "")))
    }
    if (now_seconds() >= deadline) stop(mlflow_error(sprintf("model version %s/%s not READY after %.0f s", name, version, timeout)))
    client$sleep(poll)
  }
}

mlflow_set_alias <- function(client, name, alias, version) {
  mlflow_api(client, "POST", "registered-models/alias", body = list(name = name, alias = alias, version = as.character(version)))
  invisible()
}

mlflow_get_version_by_alias <- function(client, name, alias) {
  mlflow_api(client, "GET", "registered-models/alias", query = list(name = name, alias = alias))$model_version
}

mlflow_get_run <- function(client, run_id) {
  mlflow_api(client, "GET", "runs/get", query = list(run_id = run_id))$run
}
