#' Serve a model bundle over Seldon Core v1's REST protocol
#'
#' Starts the HTTP server on `port` at once, answering liveness (`/health/ping`) while the model
#' loads in a forked child process, and readiness (`/health/status`) with 200 only once the
#' bundle is loaded and has predicted its own example rows. Predictions: `POST /predict` (what
#' the Seldon executor calls) and `POST /api/v1.0/predictions`; `GET /metadata`. Requests are
#' typed from the bundle's example (see [write_bundle()]); every client mistake is a 4xx with a
#' Seldon status body.
#'
#' Loading is retried with backoff; a bundle that cannot be read (corrupt, another format
#' version, missing packages) keeps the server unready. After `wait_seconds` without a model
#' the server stops and `serve_model()` returns `FALSE`.
#'
#' @param model_uri `models:/<name>@<alias>`, `models:/<name>/<version>`, `runs:/<id>/<path>`,
#'   `file://<dir>` or a directory.
#' @param port Port to bind on all interfaces; the Seldon executor's ports are refused.
#' @param tracking_uri MLflow tracking URI, needed for `models:/` and `runs:/` URIs.
#' @param wait_seconds How long to try loading the model before giving up.
#' @param max_body Largest request body in bytes (413 above it).
#' @param contract The contract, see [rmlops_contract()] (ports and paths).
#' @return `FALSE` when the server gave up loading the model (it does not return otherwise).
#' @examples
#' \dontrun{
#' serve_model("models:/mtcars-lm@champion", port = 9000, tracking_uri = "http://mlflow:5000")
#' }
#' @export
serve_model <- function(model_uri, port = contract$modelHttpPort, tracking_uri = NA_character_, wait_seconds = 300,
                        max_body = 5 * 1024^2, contract = rmlops_contract()) {
  if (!is.numeric(port) || length(port) != 1L || is.na(port) || port != round(port) || port < 1 || port > 65535) {
    stop(config_error(sprintf("invalid port %s", format(port))))
  }
  if (port %in% contract$executorPorts) {
    stop(config_error(sprintf(paste("refusing to bind port %d: the Seldon executor sidecar owns ports %s in every predictor",
                                    "pod. Use %d (name the container port '%s')."),
                              port, paste(contract$executorPorts, collapse = " and "), contract$modelHttpPort,
                              contract$modelPortName)))
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
  state <- new_model_state()
  stop_now <- FALSE
  loader <- make_loader(state, load_fn, wait_seconds, on_give_up = function(msg) {
    log_line(list(level = "error", msg = msg))
    stop_now <<- TRUE
  })
  log_line(list(level = "info", msg = "listening", host = "0.0.0.0", port = port, model_uri = model_uri))
  http_serve(port, make_handler(state, contract$paths), http_server_options(max_body = max_body),
             on_tick = loader, should_stop = function() stop_now)
  FALSE
}

#' @rdname train_main
#' @export
serve_main <- function(contract = rmlops_contract()) {
  status_of(contract, {
    model_uri <- contract_env(contract, "modelUri")
    if (is.na(model_uri)) {
      stop(config_error(sprintf("%s is not set: give models:/<name>@<alias>, models:/<name>/<version>, runs:/<id>/<path> or a directory",
                                contract_env_name(contract, "modelUri"))))
    }
    serve_model(
      model_uri = model_uri,
      port = contract_env_number(contract, "httpPort", contract$modelHttpPort),
      tracking_uri = contract_env(contract, "trackingUri"),
      wait_seconds = contract_env_number(contract, "mlflowWaitSeconds", 300),
      max_body = contract_env_number(contract, "maxBodyBytes", 5 * 1024^2),
      contract = contract
    )
    stop(rmlops_condition("the model could not be loaded within the wait: stopping", "model_load_timeout"))
  })
}
