# A pure-REST MLflow client (httr + jsonlite): tracking, registry and the artifact proxy.
# No Python and no S3 credentials: artifacts go through `mlflow server --serve-artifacts`.

# `request_timeout` bounds every API call (seconds, whole exchange) and every artifact transfer
# (seconds without progress, so a big download is not cut while it moves). `transport` does the
# HTTP (tests replace it).
#' An MLflow REST client
#'
#' A client for MLflow's REST API over `httr`: tracking, model registry and artifacts through
#' the tracking server's artifact proxy (`mlflow server --serve-artifacts`), so neither Python
#' nor S3 credentials are needed. Calls are retried with exponential backoff when that is safe:
#' GET and PUT on connection failures, timeouts, 5xx and 429; POST only when the request was
#' never sent (a repeated `runs/create` would create a second run).
#'
#' `mlflow_api()` is the low-level call every other function uses: it sends `body` as JSON
#' (POST) or `query` as URL parameters (GET) to `<tracking_uri>/api/2.0/mlflow/<endpoint>` and
#' returns the parsed JSON answer, or raises an `mlflow_error` carrying MLflow's `error_code`.
#'
#' @param tracking_uri MLflow tracking server URI, e.g. `http://mlflow.ns.svc:5000`.
#' @param wait_seconds How long [mlflow_wait()] waits for the server and its artifact store.
#' @param call_retries Retries of one call (when retrying is safe).
#' @param sleep Function used to wait between retries (tests replace it).
#' @param request_timeout Seconds for one API call; for artifact transfers, seconds without
#'   progress.
#' @param transport Function doing one HTTP exchange (tests replace it).
#' @return `mlflow_client()`: a client (a list) for the other `mlflow_*` functions.
#'   `mlflow_api()`: the parsed JSON answer.
#' @examples
#' client <- mlflow_client("http://127.0.0.1:5000", wait_seconds = 60)
#' \dontrun{
#' mlflow_api(client, "GET", "experiments/get-by-name", query = list(experiment_name = "rmlops"))
#' }
#' @export
mlflow_client <- function(tracking_uri, wait_seconds = 300, call_retries = 3L, sleep = Sys.sleep,
                          request_timeout = 60, transport = mlflow_transport) {
  list(base = sub("/+$", "", tracking_uri), wait_seconds = wait_seconds, call_retries = call_retries,
       sleep = sleep, request_timeout = request_timeout, transport = transport)
}

backoff_delays <- function(n, first = 0.25, cap = 5) pmin(cap, first * 2^(seq_len(n) - 1L))

# One HTTP exchange with httr. `transfer` marks artifact up/downloads: they may take long, so
# they are bounded by a stall limit instead of a total time.
#
# `fresh` (every wait attempt and every retry) opens a new TCP connection and closes it after the
# exchange. httr keeps one curl handle per host, and with it the connection: strace of a real pod
# showed every retry on the same socket, with no new connect, so a retry could never reach a
# different endpoint (a restarted MLflow pod behind the Service) and kept a half-dead connection.
mlflow_transport <- function(method, url, body = NULL, query = NULL, raw_body = NULL, timeout = 60,
                             transfer = FALSE, fresh = FALSE) {
  limit <- if (transfer) {
    httr::config(connecttimeout = min(timeout, 30), low_speed_limit = 1L, low_speed_time = ceiling(timeout))
  } else {
    httr::timeout(timeout)
  }
  connection <- if (fresh) httr::config(fresh_connect = 1L, forbid_reuse = 1L) else httr::config()
  if (!is.null(raw_body)) {
    httr::VERB(method, url, body = raw_body, httr::content_type("application/octet-stream"), limit, connection)
  } else if (!is.null(body)) {
    json <- as.character(jsonlite::toJSON(body, auto_unbox = TRUE, digits = NA))
    httr::VERB(method, url, body = json, httr::content_type_json(), limit, connection)
  } else {
    httr::VERB(method, url, query = query, limit, connection)
  }
}

# Waits with exponential backoff until MLflow answers GET /health and then until its artifact
# store answers (the bucket and its user are provisioned by a separate Job that may not have run
# yet), within one deadline, instead of failing on the first refused connection or burning the
# Job's retries on a failed upload.
#' Wait until MLflow and its artifact store answer
#'
#' Polls `GET <health_path>` and then the artifact proxy's listing with exponential backoff,
#' within the client's `wait_seconds`; raises an `mlflow_error` when the time is up.
#' @param client An [mlflow_client()].
#' @param health_path Health path of the server (the contract's `paths$mlflowHealth`).
#' @return The number of attempts, invisibly.
#' @export
mlflow_wait <- function(client, health_path) {
  deadline <- now_seconds() + client$wait_seconds
  attempts <- mlflow_wait_for(client, deadline, "MLflow", paste0(client$base, health_path))
  attempts + mlflow_wait_for(client, deadline, "the MLflow artifact store", artifact_list_url(client))
}

mlflow_wait_for <- function(client, deadline, what, url) {
  attempt <- 0L
  repeat {
    attempt <- attempt + 1L
    ok <- tryCatch(httr::status_code(client$transport("GET", url, timeout = 10, fresh = TRUE)) == 200L,
                   error = function(e) FALSE)
    if (ok) return(attempt)
    if (now_seconds() >= deadline) {
      stop(mlflow_error(sprintf("%s at %s not reachable after %.0f s (%d attempts)",
                                what, url, client$wait_seconds, attempt)))
    }
    delay <- min(backoff_delays(attempt)[[attempt]], max(0, deadline - now_seconds()))
    log_line(list(level = "info", msg = paste("waiting for", what), url = url, attempt = attempt, retry_in_s = delay))
    client$sleep(delay)
  }
}

# Methods whose repetition is harmless: an artifact PUT replaces the same path.
idempotent_methods <- c("GET", "HEAD", "PUT")

# curl's messages for a request that never left: nothing reached the server.
not_sent_pattern <- paste("Failed to connect", "Couldn't connect", "Could not resolve host",
                          "Connection refused", "Connection timed out after", sep = "|")

# Whether to repeat a request after `outcome` (an error or a response). A POST is repeated only
# if it was never sent: after a 5xx or a timeout the server may have acted on it, and repeating
# runs/create or model-versions/create would create duplicates.
mlflow_should_retry <- function(method, outcome) {
  if (inherits(outcome, "error")) {
    return(method %in% idempotent_methods || grepl(not_sent_pattern, conditionMessage(outcome)))
  }
  status <- httr::status_code(outcome)
  method %in% idempotent_methods && (status >= 500L || status == 429L)
}

# One HTTP exchange, retried with backoff as mlflow_should_retry() allows.
mlflow_http <- function(client, method, url, body = NULL, query = NULL, raw_body = NULL, transfer = FALSE) {
  attempt <- 0L
  repeat {
    attempt <- attempt + 1L
    resp <- tryCatch(
      client$transport(method, url, body = body, query = query, raw_body = raw_body,
                       timeout = client$request_timeout, transfer = transfer, fresh = attempt > 1L),
      error = function(e) e
    )
    if (attempt > client$call_retries || !mlflow_should_retry(method, resp)) break
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

#' @rdname mlflow_client
#' @param client An [mlflow_client()].
#' @param method HTTP method.
#' @param endpoint Path below `/api/2.0/mlflow/`, e.g. `"runs/create"`.
#' @param body List sent as the JSON body.
#' @param query List of URL query parameters.
#' @export
mlflow_api <- function(client, method, endpoint, body = NULL, query = NULL) {
  resp <- mlflow_http(client, method, paste0(client$base, "/api/2.0/mlflow/", endpoint), body = body, query = query)
  parse_mlflow_response(resp, endpoint)
}

#' MLflow experiments and runs
#'
#' Find or create an experiment, create a run, log params and metrics in one batch, end a run
#' and read a run back.
#' @param client An [mlflow_client()].
#' @param name Experiment name.
#' @param experiment_id Experiment id.
#' @param run_name Run name shown in the MLflow UI.
#' @param tags Named list of run tags.
#' @param run_id Run id.
#' @param params Named list of parameters (sent as strings).
#' @param metrics Named list of numeric metrics (logged at step 0).
#' @param status Run status: `"FINISHED"`, `"FAILED"` or `"KILLED"`.
#' @return `mlflow_get_or_create_experiment()`: the experiment id. `mlflow_create_run()`: the
#'   run's `info` (with `run_id` and `artifact_uri`). `mlflow_get_run()`: the run.
#'   The others: `NULL`, invisibly.
#' @name mlflow_runs
NULL

#' @rdname mlflow_runs
#' @export
mlflow_get_or_create_experiment <- function(client, name) {
  found <- tryCatch(
    mlflow_api(client, "GET", "experiments/get-by-name", query = list(experiment_name = name)),
    mlflow_error = function(e) if (identical(e$error_code, "RESOURCE_DOES_NOT_EXIST")) NULL else stop(e)
  )
  if (!is.null(found)) return(found$experiment$experiment_id)
  mlflow_api(client, "POST", "experiments/create", body = list(name = name))$experiment_id
}

#' @rdname mlflow_runs
#' @export
mlflow_create_run <- function(client, experiment_id, run_name, tags = list()) {
  body <- list(experiment_id = experiment_id, start_time = mlflow_timestamp(), run_name = run_name,
               tags = lapply(names(tags), function(k) list(key = k, value = as.character(tags[[k]]))))
  mlflow_api(client, "POST", "runs/create", body = body)$run$info
}

mlflow_timestamp <- function() round(as.numeric(Sys.time()) * 1000)

#' @rdname mlflow_runs
#' @export
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

#' @rdname mlflow_runs
#' @export
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

artifact_list_url <- function(client) paste0(client$base, "/api/2.0/mlflow-artifacts/artifacts")

# Names (basenames, as the proxy answers) and kinds of the artifacts under a proxy path.
#' MLflow artifacts through the artifact proxy
#'
#' List, upload and download artifacts through the tracking server's artifact proxy
#' (`/api/2.0/mlflow-artifacts/artifacts/...`). Locations are `mlflow-artifacts:/` URIs, as
#' `run$artifact_uri` gives them; other schemes (e.g. `s3://` from a server started with
#' `--default-artifact-root`) are refused with an explanation.
#' @param client An [mlflow_client()].
#' @param path Proxy path (`<experiment>/<run>/artifacts/...`).
#' @param artifact_uri The run's artifact URI.
#' @param local_dir Local directory to upload (recursively).
#' @param artifact_path Path under the run's artifacts to upload to, e.g. `"model"`.
#' @param source_uri Artifact URI of a directory to download from.
#' @param files File names to download (checked against a listing first).
#' @param dest Local directory to download into (created).
#' @return `mlflow_list_artifacts()`: a data frame with `name` and `is_dir`.
#'   `mlflow_upload_dir()`: the artifact URI of the uploaded directory, invisibly.
#'   `mlflow_download_files()`: `dest`, invisibly.
#' @name mlflow_artifacts
NULL

#' @rdname mlflow_artifacts
#' @export
mlflow_list_artifacts <- function(client, path) {
  resp <- mlflow_http(client, "GET", artifact_list_url(client), query = if (nzchar(path)) list(path = path))
  files <- parse_mlflow_response(resp, paste("artifact listing of", path))$files %||% list()
  data.frame(
    name = vapply(files, function(f) basename(f$path %||% ""), ""),
    is_dir = vapply(files, function(f) isTRUE(f$is_dir), NA),
    stringsAsFactors = FALSE
  )
}

artifact_url <- function(client, path) {
  segments <- strsplit(path, "/", fixed = TRUE)[[1L]]
  encoded <- vapply(segments, utils::URLencode, "", reserved = TRUE, USE.NAMES = FALSE)
  paste0(client$base, "/api/2.0/mlflow-artifacts/artifacts/", paste(encoded, collapse = "/"))
}

#' @rdname mlflow_artifacts
#' @export
mlflow_upload_dir <- function(client, artifact_uri, local_dir, artifact_path) {
  root <- artifact_proxy_path(artifact_uri)
  for (f in list.files(local_dir, recursive = TRUE)) {
    bytes <- readBin(file.path(local_dir, f), "raw", file.size(file.path(local_dir, f)))
    resp <- mlflow_http(client, "PUT", artifact_url(client, paste(root, artifact_path, f, sep = "/")),
                        raw_body = bytes, transfer = TRUE)
    parse_mlflow_response(resp, paste("artifact upload of", f))
  }
  invisible(paste(artifact_uri, artifact_path, sep = "/"))
}

#' @rdname mlflow_artifacts
#' @export
mlflow_download_files <- function(client, source_uri, files, dest) {
  root <- artifact_proxy_path(source_uri)
  # Listing first turns "not an R bundle" (e.g. a Python model) into one clear message.
  listed <- mlflow_list_artifacts(client, root)
  missing <- setdiff(files, listed$name[!listed$is_dir])
  if (length(missing) > 0L) {
    stop(mlflow_error(sprintf("%s is not an R model bundle: missing %s (it holds: %s)", source_uri,
                              paste(missing, collapse = ", "),
                              if (nrow(listed)) paste(listed$name, collapse = ", ") else "nothing")))
  }
  dir.create(dest, recursive = TRUE, showWarnings = FALSE)
  for (f in files) {
    resp <- mlflow_http(client, "GET", artifact_url(client, paste(root, f, sep = "/")), transfer = TRUE)
    if (httr::status_code(resp) != 200L) parse_mlflow_response(resp, paste("artifact download of", f))
    writeBin(httr::content(resp, as = "raw"), file.path(dest, f))
  }
  invisible(dest)
}

#' MLflow model registry and aliases
#'
#' Register a model name, create a version from an artifact URI, wait until it is `READY`,
#' look versions up by number or alias, move an alias, and find where a version's files are
#' (`get-download-uri`, which also resolves `models:/m-<id>` sources of MLflow 3 clients).
#' @param client An [mlflow_client()].
#' @param name Registered model name.
#' @param source Artifact URI of the model directory.
#' @param run_id Run that produced the version.
#' @param version Version number.
#' @param alias Alias, e.g. `"champion"`.
#' @param timeout Seconds to wait for `READY`.
#' @param poll Seconds between polls.
#' @return `mlflow_create_model_version()`, `mlflow_get_model_version()`,
#'   `mlflow_wait_version_ready()`, `mlflow_get_version_by_alias()`: the model version (a list
#'   with `name`, `version`, `source`, `run_id`, `status`). `mlflow_get_download_uri()`: an
#'   artifact URI. The others: invisibly.
#' @name mlflow_registry
NULL

#' @rdname mlflow_registry
#' @export
mlflow_ensure_registered_model <- function(client, name) {
  tryCatch(
    mlflow_api(client, "POST", "registered-models/create", body = list(name = name)),
    mlflow_error = function(e) if (identical(e$error_code, "RESOURCE_ALREADY_EXISTS")) NULL else stop(e)
  )
  invisible(name)
}

#' @rdname mlflow_registry
#' @export
mlflow_create_model_version <- function(client, name, source, run_id) {
  mlflow_api(client, "POST", "model-versions/create",
             body = list(name = name, source = source, run_id = run_id))$model_version
}

#' @rdname mlflow_registry
#' @export
mlflow_get_model_version <- function(client, name, version) {
  mlflow_api(client, "GET", "model-versions/get", query = list(name = name, version = version))$model_version
}

# Where the registry says a version's files are: resolves `models:/m-<id>` sources (logged
# models of MLflow 3 clients) and `runs:/` sources to a location the artifact proxy serves.
#' @rdname mlflow_registry
#' @export
mlflow_get_download_uri <- function(client, name, version) {
  mlflow_api(client, "GET", "model-versions/get-download-uri",
             query = list(name = name, version = as.character(version)))$artifact_uri
}

#' @rdname mlflow_registry
#' @export
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

#' @rdname mlflow_registry
#' @export
mlflow_set_alias <- function(client, name, alias, version) {
  mlflow_api(client, "POST", "registered-models/alias", body = list(name = name, alias = alias, version = as.character(version)))
  invisible()
}

#' @rdname mlflow_registry
#' @export
mlflow_get_version_by_alias <- function(client, name, alias) {
  mlflow_api(client, "GET", "registered-models/alias", query = list(name = name, alias = alias))$model_version
}

#' @rdname mlflow_runs
#' @export
mlflow_get_run <- function(client, run_id) {
  mlflow_api(client, "GET", "runs/get", query = list(run_id = run_id))$run
}
