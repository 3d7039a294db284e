# Routes of the model server, both protocols. The state is the loaded model (`state$bundle`),
# what every response reuses, and `state$unready()`: NULL, or why this process must not be
# reported ready (draining, workers missing).

new_model_state <- function(v2_name = NA_character_) {
  state <- new.env(parent = emptyenv())
  state$bundle <- NULL
  state$meta <- NULL
  state$metadata_body <- NULL
  state$v2_name <- v2_name
  state$unready <- function() NULL
  state
}

# Seldon's executor reads `custom` as a map of string to string (payload.ModelMetadata.Custom):
# anything else makes its /api/v1.0/metadata fail with a 500, so nested values are JSON text.
flat_custom <- function(x) {
  out <- lapply(x, function(v) {
    if (is.null(v)) return("")
    if (is.character(v) && length(v) == 1L) return(v)
    as.character(jsonlite::toJSON(v, auto_unbox = TRUE, digits = NA, null = "null"))
  })
  stats::setNames(out, names(x))
}

# Called once a bundle is loaded; precomputes what every response reuses.
set_loaded_model <- function(state, bundle, info) {
  name <- info$name %||% basename(normalizePath(bundle$dir %||% "model", mustWork = FALSE))
  version <- as.character(info$version %||% "local")
  manifest <- bundle$manifest
  run_id <- info$run_id %||% manifest$run_id %||% ""
  spec <- input_spec(bundle$features)
  output <- bundle$output
  out_names <- unlist(output$names)
  state$info <- list(name = name, version = version, run_id = run_id)
  # I() keeps one-element vectors as JSON arrays; as.character(NULL) stays an empty array, so a
  # regression model (no class levels) has "levels": [] rather than failing here.
  state$meta <- list(tags = list(model_name = name, model_version = version, run_id = run_id))
  state$meta_json <- as.character(jsonlite::toJSON(state$meta, auto_unbox = TRUE, null = "null"))
  input_schema <- list(
    names = I(spec$feature_names), shape = I(length(spec$feature_names)),
    types = I(vapply(spec$features, function(f) f$type, "")),
    levels = stats::setNames(lapply(spec$features, function(f) I(as.character(unlist(f$levels)))), spec$feature_names)
  )
  output_schema <- list(names = I(as.character(out_names)), shape = I(length(out_names)), kind = output$kind,
                        levels = I(as.character(unlist(output$levels))))
  state$metadata_body <- as.character(jsonlite::toJSON(list(
    name = name, versions = I(version), platform = "rmlops-r",
    inputs = list(list(messagetype = "ndarray", schema = input_schema)),
    outputs = list(list(messagetype = "ndarray", schema = output_schema)),
    custom = flat_custom(list(run_id = run_id, r_version = manifest$r_version, packages = manifest$packages,
                              format_version = as.character(manifest$format_version), metrics = manifest$metrics))
  ), auto_unbox = TRUE, digits = NA, null = "null"))
  if (is.na(state$v2_name)) state$v2_name <- name
  state$v2_metadata_body <- v2_metadata_body(state$v2_name, version, spec, output)
  state$spec <- spec
  state$bundle <- bundle
  invisible(state)
}

handle_predict <- function(state, body) {
  bundle <- state$bundle
  if (is.null(bundle)) stop(not_ready("the model is not loaded yet: retry when the readiness probe answers 200"))
  newdata <- decode_request(body, state$spec)
  puid <- attr(newdata, "rmlops_puid")
  tensor <- isTRUE(attr(newdata, "rmlops_tensor"))
  attr(newdata, "rmlops_puid") <- NULL
  attr(newdata, "rmlops_tensor") <- NULL
  predictions <- predict_bundle(bundle, newdata)
  list(status = 200L, body = encode_predictions(predictions, bundle$output$names, state$meta_json, puid, tensor),
       rows = nrow(newdata), puid = puid)
}

# Seldon feedback (the executor's POST /send-feedback, and /api/v1.0/feedback): a Feedback
# message {request, response, reward, truth}. The reward and the truth are counted in the
# metrics and kept as one JSON log line carrying the prediction's puid (from response.meta,
# request.meta or the Seldon-Puid header), so the payload log of that prediction can be joined
# to it. The model itself is not called: R models have no send_feedback().
handle_feedback <- function(state, req, metrics) {
  msg <- parse_json_body(req$body, NULL, example = '{"response":{"meta":{"puid":"<puid>"}},"reward":1,"truth":{"data":{"ndarray":[[...]]}}}')
  if (!is_json_object(msg)) {
    stop(bad_request(sprintf("the feedback is a JSON %s: expected an object with 'reward' and/or 'truth'", json_type(msg))))
  }
  check_unique_keys(msg, "the feedback")
  unknown <- setdiff(names(msg), c("request", "response", "reward", "truth"))
  if (length(unknown)) {
    stop(bad_request(sprintf("unknown key(s) %s in the feedback: expected request, response, reward and truth",
                             paste0("'", substr(unknown, 1L, 40L), "'", collapse = ", "))))
  }
  reward <- msg[["reward"]]
  if (!is.null(reward) && !(is.numeric(reward) && length(reward) == 1L && is.finite(reward))) {
    stop(bad_request(sprintf("'reward' is a JSON %s: expected a finite number", json_type(reward))))
  }
  for (k in c("request", "response", "truth")) {
    if (!is.null(msg[[k]]) && !is_json_object(msg[[k]])) {
      stop(bad_request(sprintf("'%s' is a JSON %s: expected a Seldon message object", k, json_type(msg[[k]]))))
    }
  }
  if (is.null(reward) && is.null(msg[["truth"]])) stop(bad_request("the feedback has neither 'reward' nor 'truth': send one"))
  puid <- message_puid(msg[["response"]] %||% list()) %||% message_puid(msg[["request"]] %||% list())
  header <- req$headers[["seldon-puid"]]
  if (is.null(puid) && !is.null(header) && nzchar(header)) puid <- header
  record_feedback(metrics, reward, !is.null(msg[["truth"]]))
  log_line(list(level = "info", msg = "feedback", puid = puid, reward = reward, truth = msg[["truth"]][["data"]] %||% msg[["truth"]]))
  meta <- if (is.null(puid)) "{}" else paste0('{"puid":', json_values(puid), "}")
  list(status = 200L, body = paste0('{"data":{"names":[],"ndarray":[]},"meta":', meta, "}"), puid = puid)
}

# A request body in a Content-Encoding this server does not decode is a 415, and tritonclient's
# binary tensor extension (the JSON header's length in Inference-Header-Content-Length, binary
# tensors after it) a 400 that names it: both would otherwise read as malformed JSON.
check_body_encoding <- function(req) {
  encoding <- req$headers[["content-encoding"]]
  if (!is.null(encoding) && !tolower(encoding) %in% c("", "identity")) {
    stop(unsupported_media(sprintf("Content-Encoding '%s' is not supported: send the body uncompressed (identity)",
                                   substr(encoding, 1L, 40L))))
  }
  if (!is.null(req$headers[["inference-header-content-length"]])) {
    stop(bad_request(paste("binary tensor data (the Inference-Header-Content-Length extension, tritonclient's binary_data=True)",
                           "is not supported: send every tensor as JSON (binary_data=False)")))
  }
  invisible()
}

readiness_problem <- function(state) {
  if (is.null(state$bundle)) return("the model is not loaded yet")
  state$unready()
}

# The routing table: exact paths (from the contract), then the OIP v2 model paths. Each route
# names the methods it allows (HEAD with every GET) and its label in the metrics.
route_table <- function(paths) {
  get <- c("GET", "HEAD")
  table <- list()
  table[[paths$modelPredict]] <- list(id = "predict", allow = "POST")
  table[[paths$predictions]] <- list(id = "predict", allow = "POST")
  table[[paths$modelFeedback]] <- list(id = "feedback", allow = "POST")
  table[[paths$feedback]] <- list(id = "feedback", allow = "POST")
  table[[paths$healthPing]] <- list(id = "ping", allow = get)
  table[[paths$healthStatus]] <- list(id = "status", allow = get)
  table[[paths$metadata]] <- list(id = "metadata", allow = get)
  table[[paths$v2Live]] <- list(id = "v2_live", allow = get)
  table[[paths$v2Ready]] <- list(id = "v2_ready", allow = get)
  table[["/v2"]] <- list(id = "v2_server", allow = get)
  for (p in names(table)) table[[p]]$label <- p
  # The OIP v2 model paths that matched, remembered (see route_of).
  attr(table, "memo") <- new.env(hash = TRUE, parent = emptyenv())
  table
}

# How many matched v2 paths route_of remembers: a server serves one model, so its clients use a
# handful; the bound keeps a client that varies the path from growing the memo.
ROUTE_MEMO_MAX <- 32L

route_of <- function(path, table) {
  exact <- table[[path]]
  if (!is.null(exact)) return(exact)
  # Matching a v2 model path costs about 60 us of R (the regular expression and the %XX decoding),
  # as much as a v1 request's whole R work, so a path that matched once is looked up, not matched.
  memo <- attr(table, "memo")
  v2 <- startsWith(path, "/v2/models/")
  if (v2 && !is.null(memo)) {
    hit <- memo[[path]]
    if (!is.null(hit)) return(hit)
  }
  m <- regmatches(path, regexec("^/v2/models/([^/]+)(/versions/([^/]+))?(/ready|/infer)?$", path))[[1L]]
  if (length(m) == 0L) return(NULL)
  kind <- switch(m[[5L]], "/ready" = "v2_model_ready", "/infer" = "v2_infer", "v2_model")
  label <- paste0("/v2/models/{model}", if (nzchar(m[[3L]])) "/versions/{version}" else "", m[[5L]])
  route <- list(id = kind, allow = if (kind == "v2_infer") "POST" else c("GET", "HEAD"), label = label,
                model = url_decode(m[[2L]]), version = if (nzchar(m[[4L]])) url_decode(m[[4L]]) else NA_character_)
  if (v2 && !is.null(memo) && length(memo) < ROUTE_MEMO_MAX) assign(path, route, envir = memo)
  route
}

# A path segment's %XX escapes decoded. A segment that decodes to a NUL or to bytes that are
# not UTF-8 cannot name anything served here: it is kept as sent (printable ASCII, so it is safe
# in any message), and the lookup answers 404.
url_decode <- function(x) {
  decoded <- tryCatch(utils::URLdecode(x), error = function(e) NA_character_, warning = function(w) NA_character_)
  if (is.na(decoded) || !validUTF8(decoded)) x else decoded
}

# Route labels for the metrics: known routes by template, everything else as "other", so a
# scanner cannot grow the label set without bound.
route_label <- function(path, table) {
  r <- route_of(path, table)
  if (is.null(r)) "other" else r$label
}

make_handler <- function(state, paths, metrics = new_metrics()) {
  all_allow <- "GET, HEAD, POST, OPTIONS"
  table <- route_table(paths)
  function(req) {
    # Any method a route does not take, known or not, is a 405 with Allow (RFC 9110 15.5.6),
    # not a 501: a client's mistake is never answered with a 5xx.
    method <- req$method
    if (identical(req$path, "*")) {
      return(list(status = 200L, body = "", content_type = "text/plain", headers = c(Allow = all_allow)))
    }
    route <- route_of(req$path, table)
    if (is.null(route)) {
      msg <- sprintf("no route for %s %s: POST %s with a Seldon message, or POST /v2/models/<name>/infer",
                     method, req$path, paths$modelPredict)
      stop(not_found(msg))
    }
    if (method == "OPTIONS") {
      allow <- paste(c(route$allow, "OPTIONS"), collapse = ", ")
      return(list(status = 200L, body = "", content_type = "text/plain", headers = c(Allow = allow), route = route$label))
    }
    if (!method %in% route$allow) {
      allow <- paste(c(route$allow, "OPTIONS"), collapse = ", ")
      e <- method_not_allowed(sprintf("%s accepts %s only, not %s", req$path,
                                      paste(route$allow, collapse = " and "), method))
      e$headers <- c(Allow = allow)
      e$route <- route$label
      stop(e)
    }
    if (method == "POST") check_body_encoding(req)
    res <- switch(route$id,
      predict = handle_predict(state, req$body),
      feedback = handle_feedback(state, req, metrics),
      ping = list(status = 200L, body = "pong", content_type = "text/plain"),
      status = {
        problem <- readiness_problem(state)
        if (!is.null(problem)) stop(not_ready(problem))
        list(status = 200L, body = '{"status":"ready"}')
      },
      metadata = {
        if (is.null(state$bundle)) stop(not_ready("the model is not loaded yet"))
        list(status = 200L, body = state$metadata_body)
      },
      v2_handle(state, route, req)
    )
    res$route <- route$label
    res
  }
}

# Loads the model in a forked child (parallel::mcparallel) and installs it from on_tick, so a
# slow or hanging MLflow, or a big download, never blocks the HTTP loop: liveness (/health/ping)
# must keep answering while the model loads. Failed attempts are retried with backoff; after
# `wait_seconds` without a model, `on_give_up` is called (the server then exits non-zero).
# An attempt running longer than `attempt_timeout` is killed and counts as failed.
make_loader <- function(state, load_fn, wait_seconds, on_give_up, attempt_timeout = 300) {
  started <- now_seconds()
  attempt <- 0L
  next_at <- started
  job <- NULL
  job_started <- NA_real_
  give_up <- function(reason) {
    on_give_up(sprintf("could not load the model after %d attempts in %.0f s: %s", attempt, wait_seconds, reason))
  }
  loader <- function() {
    if (!is.null(state$bundle)) return(invisible())
    now <- now_seconds()
    if (is.null(job)) {
      if (now < next_at) return(invisible())
      attempt <<- attempt + 1L
      job <<- start_load_job(load_fn)
      job_started <<- now
      return(invisible())
    }
    result <- collect_load_job(job)
    if (is.null(result)) {
      overdue <- now - job_started > attempt_timeout
      if (!overdue && now - started < wait_seconds) return(invisible())
      kill_load_job(job)
      job <<- NULL
      result <- simpleError(sprintf("attempt %d still running after %.0f s: stopped it", attempt, now - job_started))
    }
    job <<- NULL
    if (!inherits(result, "error")) {
      result <- tryCatch(install_loaded(state, result, attempt), error = function(e) e)
      if (!inherits(result, "error")) state$load_seconds <- now_seconds() - started
    }
    if (!inherits(result, "error")) return(invisible())
    if (now_seconds() - started >= wait_seconds) return(give_up(conditionMessage(result)))
    delay <- backoff_delays(attempt, first = 0.5, cap = 10)[[attempt]]
    log_line(list(level = "warn", msg = "model not loaded yet", attempt = attempt, retry_in_s = delay,
                  error = conditionMessage(result)))
    next_at <<- now_seconds() + delay
  }
  # Called on shutdown while an attempt runs: the child must not outlive the server.
  attr(loader, "stop") <- function() if (!is.null(job)) kill_load_job(job)
  loader
}

# The child inherits the listening and client sockets: it closes its copies first, so a
# connection the server closes is not kept open by a loader still waiting on MLflow.
start_load_job <- function(load_fn) {
  parallel::mcparallel({
    closeAllConnections()
    # The HTTP clients' sockets are descriptors of src/http.c, which R does not know.
    .Call(C_rmlops_close_clients)
    load_fn()
  }, silent = FALSE)
}

# The child's result, an error, or NULL while it is still running.
collect_load_job <- function(job) {
  collected <- suppressWarnings(parallel::mccollect(job, wait = FALSE))
  if (is.null(collected)) return(NULL)
  result <- collected[[1L]]
  if (inherits(result, "try-error")) {
    return(attr(result, "condition") %||% simpleError(as.character(result)))
  }
  if (is.null(result)) return(simpleError("the loader process ended without a result"))
  result
}

kill_load_job <- function(job) {
  tools::pskill(job$pid, tools::SIGKILL)
  # Reap it so no zombie is left behind.
  suppressWarnings(parallel::mccollect(job, wait = FALSE, timeout = 1))
  invisible()
}

# The bundle crossed a process boundary: check it can predict here before reporting ready.
install_loaded <- function(state, result, attempt) {
  check_bundle(result$bundle)
  set_loaded_model(state, result$bundle, result$info)
  log_line(list(level = "info", msg = "model loaded", model = result$info$name %||% result$info$dir,
                version = result$info$version %||% "local", attempts = attempt))
  invisible(state)
}
