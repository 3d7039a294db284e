# The R model server for Seldon Core v1: `Rscript serve.R`.
# Ports, paths and env var names come from contract.json next to this file.
main <- function(contract) {

  port <- contract_env_number(contract, "httpPort", contract$modelHttpPort)
  if (port %in% contract$executorPorts) {
    fail(sprintf(paste("refusing to bind port %d: the Seldon executor sidecar owns ports %s in every predictor",
                       "pod. Use %d (name the container port '%s')."),
                 port, paste(contract$executorPorts, collapse = " and "), contract$modelHttpPort, contract$modelPortName))
  }
  if (port != round(port) || port < 1 || port > 65535) fail(sprintf("invalid port %s", port))
  model_uri <- contract_env(contract, "modelUri")
  if (is.na(model_uri)) {
    fail(sprintf("%s is not set: give models:/<name>@<alias>, models:/<name>/<version>, runs:/<id>/<path> or a directory",
                 contract_env_name(contract, "modelUri")))
  }
  wait_seconds <- contract_env_number(contract, "mlflowWaitSeconds", 300)
  max_body <- contract_env_number(contract, "maxBodyBytes", 5 * 1024^2)

  client_factory <- function() {
    tracking <- contract_env(contract, "trackingUri")
    if (is.na(tracking)) stop(sprintf("%s is needed to resolve %s", contract_env_name(contract, "trackingUri"), model_uri))
    # A hung MLflow must not hold a loader attempt for long: it is retried instead.
    mlflow_client(tracking, wait_seconds = 0, request_timeout = 30)
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
  quit(status = 1L, save = "no")
}

fail <- function(msg) {
  cat(as.character(jsonlite::toJSON(list(level = "error", msg = msg), auto_unbox = TRUE)), "\n", sep = "", file = stderr())
  quit(status = 2L, save = "no")
}

# The modules and contract.json sit next to this script, wherever the image puts it.
here <- local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  dirname(normalizePath(sub("^--file=", "", file_arg[[1L]])))
})
sys.source(file.path(here, "R", "load_all.R"), envir = globalenv())
load_rmlops(file.path(here, "R"), envir = globalenv())
main(read_contract(file.path(here, "contract.json")))
