# Routes of the model server. The only state is the loaded model (`state$bundle`).

new_model_state <- function() {
  state <- new.env(parent = emptyenv())
  state$bundle <- NULL
  state$meta <- NULL
  state$metadata_body <- NULL
  state
}

# Called once a bundle is loaded; precomputes what every response reuses.
set_loaded_model <- function(state, bundle, info) {
  name <- info$name %||% "local"
  version <- info$version %||% "local"
  manifest <- bundle$manifest
  run_id <- info$run_id %||% manifest$run_id %||% ""
  spec <- input_spec(bundle$features)
  output <- bundle$output
  out_names <- unlist(output$names)
  # I() keeps one-element vectors as JSON arrays; as.character(NULL) stays an empty array, so a
  # regression model (no class levels) has "levels": [] rather than failing here.
  state$meta <- list(tags = list(model_name = name, model_version = as.character(version), run_id = run_id))
  input_schema <- list(
    names = I(spec$feature_names), shape = I(length(spec$feature_names)),
    types = I(vapply(spec$features, function(f) f$type, "")),
    levels = stats::setNames(lapply(spec$features, function(f) I(as.character(unlist(f$levels)))), spec$feature_names)
  )
  output_schema <- list(names = I(as.character(out_names)), shape = I(length(out_names)), kind = output$kind,
                        levels = I(as.character(unlist(output$levels))))
  state$metadata_body <- as.character(jsonlite::toJSON(list(
    name = name, versions = I(as.character(version)), platform = "rmlops-r",
    inputs = list(list(messagetype = "ndarray", schema = input_schema)),
    outputs = list(list(messagetype = "ndarray", schema = output_schema)),
    custom = list(run_id = run_id, r_version = manifest$r_version, packages = manifest$packages,
                  format_version = manifest$format_version, metrics = manifest$metrics)
  ), auto_unbox = TRUE, digits = NA, null = "null"))
  state$spec <- spec
  state$bundle <- bundle
  invisible(state)
}

handle_predict <- function(state, body) {
  bundle <- state$bundle
  if (is.null(bundle)) stop(not_ready("the model is not loaded yet: retry when the readiness probe answers 200"))
  newdata <- decode_request(body, state$spec)
  predictions <- predict_bundle(bundle, newdata)
  list(status = 200L, body = encode_predictions(predictions, bundle$output$names, state$meta),
       rows = nrow(newdata))
}

make_handler <- function(state, paths) {
  predict_paths <- c(paths$modelPredict, paths$predictions)
  get_paths <- c(paths$healthPing, paths$healthStatus, paths$metadata)
  function(req) {
    path <- req$path
    if (path %in% predict_paths) {
      if (req$method != "POST") stop(method_not_allowed(sprintf("%s accepts POST only, not %s", path, req$method)))
      return(handle_predict(state, req$body))
    }
    if (path %in% get_paths && req$method != "GET") {
      stop(method_not_allowed(sprintf("%s accepts GET only, not %s", path, req$method)))
    }
    if (identical(path, paths$healthPing)) return(list(status = 200L, body = "pong", content_type = "text/plain"))
    if (identical(path, paths$healthStatus)) {
      if (is.null(state$bundle)) stop(not_ready("the model is not loaded yet"))
      return(list(status = 200L, body = '{"status":"ready"}'))
    }
    if (identical(path, paths$metadata)) {
      if (is.null(state$bundle)) stop(not_ready("the model is not loaded yet"))
      return(list(status = 200L, body = state$metadata_body))
    }
    stop(not_found(sprintf("no route for %s %s: POST %s with a Seldon message", req$method, path, paths$modelPredict)))
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
  function() {
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
    if (!inherits(result, "error")) result <- tryCatch(install_loaded(state, result, attempt), error = function(e) e)
    if (!inherits(result, "error")) return(invisible())
    if (now_seconds() - started >= wait_seconds) return(give_up(conditionMessage(result)))
    delay <- backoff_delays(attempt, first = 0.5, cap = 10)[[attempt]]
    log_line(list(level = "warn", msg = "model not loaded yet", attempt = attempt, retry_in_s = delay,
                  error = conditionMessage(result)))
    next_at <<- now_seconds() + delay
  }
}

# The child inherits the listening and client sockets: it closes its copies first, so a
# connection the server closes is not kept open by a loader still waiting on MLflow.
start_load_job <- function(load_fn) {
  parallel::mcparallel({
    closeAllConnections()
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
