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
  run_id <- info$run_id %||% bundle$metadata$run_id %||% ""
  proto <- bundle$prototype
  state$meta <- list(tags = list(model_name = name, model_version = as.character(version), run_id = run_id))
  state$metadata_body <- as.character(jsonlite::toJSON(list(
    name = name, versions = I(as.character(version)), platform = "rmlops-r",
    inputs = list(list(messagetype = "ndarray",
                       schema = list(names = I(proto$feature_names), shape = I(length(proto$feature_names))))),
    outputs = list(list(messagetype = "ndarray",
                        schema = list(names = I(proto$output$name), shape = I(1L), levels = I(unlist(proto$output$levels))))),
    custom = list(run_id = run_id, r_version = bundle$metadata$r_version, packages = bundle$metadata$packages,
                  metrics = bundle$metadata$metrics)
  ), auto_unbox = TRUE, digits = NA, null = "null"))
  state$bundle <- bundle
  invisible(state)
}

handle_predict <- function(state, body) {
  bundle <- state$bundle
  if (is.null(bundle)) stop(not_ready("the model is not loaded yet: retry when the readiness probe answers 200"))
  newdata <- decode_request(body, bundle$prototype)
  predictions <- predict_bundle(bundle, newdata)
  list(status = 200L, body = encode_predictions(predictions, bundle$prototype$output$name, state$meta),
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

# Retries loading with backoff until `deadline`; returns a function for http_serve's on_tick.
make_loader <- function(state, load_fn, wait_seconds, on_give_up) {
  started <- now_seconds()
  attempt <- 0L
  next_at <- started
  function() {
    if (!is.null(state$bundle) || now_seconds() < next_at) return(invisible())
    attempt <<- attempt + 1L
    result <- tryCatch(load_fn(), error = function(e) e)
    if (!inherits(result, "error")) {
      set_loaded_model(state, result$bundle, result$info)
      log_line(list(level = "info", msg = "model loaded", model = result$info$name %||% result$info$dir,
                    version = result$info$version %||% "local", attempts = attempt))
      return(invisible())
    }
    if (now_seconds() - started >= wait_seconds) {
      on_give_up(sprintf("could not load the model after %d attempts in %.0f s: %s",
                         attempt, wait_seconds, conditionMessage(result)))
      return(invisible())
    }
    delay <- backoff_delays(attempt, first = 0.5, cap = 10)[[attempt]]
    log_line(list(level = "warn", msg = "model not loaded yet", attempt = attempt, retry_in_s = delay,
                  error = conditionMessage(result)))
    next_at <<- now_seconds() + delay
  }
}
