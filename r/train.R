# Training entrypoint: `Rscript train.R`.
# With the tracking URI set: logs to MLflow over REST, uploads the bundle through the artifact
# proxy, registers a version and moves the alias if the quality gate passes.
# Without it: writes the bundle to the model directory and touches no network.
main <- function(contract) {
  trained <- train_iris()
  log_line(list(level = "info", msg = "trained", metrics = trained$metrics[c("accuracy", "f1_macro", "kappa", "oob_error")]))

  tracking <- contract_env(contract, "trackingUri")
  if (is.na(tracking)) {
    dir <- contract_env(contract, "modelDir", "./model")
    write_bundle(dir, trained$model, trained$prototype, bundle_metadata(trained))
    log_line(list(level = "info", msg = "bundle written (local mode)", dir = normalizePath(dir)))
    return(invisible())
  }
  config <- list(
    experiment = contract_env(contract, "experimentName", "rmlops"),
    model_name = contract_env(contract, "registeredModelName", "iris-rf"),
    alias = contract_env(contract, "modelAlias", "champion"),
    metric = contract_env(contract, "qualityMetric", "accuracy"),
    threshold = contract_env_number(contract, "qualityThreshold", 0.9),
    direction = contract_env(contract, "qualityDirection", "higher")
  )
  # Fail fast, before waiting for MLflow: a wrong gate setting is not fixed by retrying.
  check_quality_config(trained$metrics, config$metric, config$direction, config$threshold)
  client <- mlflow_client(tracking, wait_seconds = contract_env_number(contract, "mlflowWaitSeconds", 300))
  result <- train_with_mlflow(client, config, trained, tempdir(), contract$paths$mlflowHealth)
  log_line(c(list(level = "info", msg = "training run finished"), result))
}

# The modules and contract.json sit next to this script, wherever the image puts it.
here <- local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  dirname(normalizePath(sub("^--file=", "", file_arg[[1L]])))
})
sys.source(file.path(here, "R", "load_all.R"), envir = globalenv())
load_rmlops(file.path(here, "R"), envir = globalenv())
contract <- read_contract(file.path(here, "contract.json"))
# A configuration error exits with the contract's code (the Job then fails without retrying);
# anything else exits 1 and may be retried.
status <- tryCatch({ main(contract); 0L }, error = function(e) {
  cat(as.character(jsonlite::toJSON(list(level = "error", msg = conditionMessage(e),
                                         config_error = inherits(e, "config_error")), auto_unbox = TRUE)),
      "\n", sep = "", file = stderr())
  if (inherits(e, "config_error")) as.integer(contract$trainingConfigErrorExitCode) else 1L
})
quit(status = status, save = "no")
