# Sources the modules in a fixed order (the entrypoints and the tests use this).
load_rmlops <- function(dir, envir = parent.frame()) {
  for (f in c("errors.R", "contract.R", "bundle.R", "codec.R", "http_server.R", "mlflow_client.R",
              "model_uri.R", "training.R", "app.R")) {
    sys.source(file.path(dir, f), envir = envir)
  }
}
