# Training the iris example and the metrics a data scientist expects from a holdout split.

stratified_split <- function(y, test_fraction, seed) {
  set.seed(seed)
  test <- unlist(lapply(split(seq_along(y), y), function(idx) idx[sample.int(length(idx), round(length(idx) * test_fraction))]))
  sort(unname(test))
}

classification_metrics <- function(truth, predicted) {
  truth <- factor(truth)
  predicted <- factor(predicted, levels = levels(truth))
  cm <- table(truth, predicted)
  n <- sum(cm)
  tp <- diag(cm)
  precision <- ifelse(colSums(cm) > 0, tp / colSums(cm), 0)
  recall <- ifelse(rowSums(cm) > 0, tp / rowSums(cm), 0)
  f1 <- ifelse(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
  accuracy <- sum(tp) / n
  expected <- sum(rowSums(cm) * colSums(cm)) / n^2
  kappa <- if (expected < 1) (accuracy - expected) / (1 - expected) else 1
  per_class <- unlist(lapply(levels(truth), function(l) {
    stats::setNames(c(precision[[l]], recall[[l]], f1[[l]]), paste0(c("precision_", "recall_", "f1_"), l))
  }))
  c(list(accuracy = accuracy, precision_macro = mean(precision), recall_macro = mean(recall),
         f1_macro = mean(f1), kappa = kappa), as.list(per_class))
}

train_iris <- function(seed = 42L, test_fraction = 0.3, ntree = 100L) {
  data <- datasets::iris
  features <- data[, 1:4]
  test <- stratified_split(data$Species, test_fraction, seed)
  set.seed(seed)
  model <- randomForest::randomForest(x = features[-test, ], y = data$Species[-test], ntree = ntree)
  predicted <- stats::predict(model, features[test, ])
  metrics <- classification_metrics(data$Species[test], predicted)
  metrics$oob_error <- unname(model$err.rate[ntree, "OOB"])
  list(
    model = model,
    prototype = make_prototype(features, data$Species),
    params = list(model = "randomForest", ntree = ntree, mtry = model$mtry, seed = seed,
                  test_fraction = test_fraction, n_train = nrow(features) - length(test), n_test = length(test)),
    metrics = metrics,
    packages = "randomForest"
  )
}

bundle_metadata <- function(trained, run_id = NULL) {
  list(
    run_id = run_id,
    created_utc = format(Sys.time(), "%Y-%m-%dT%H:%M:%OS3Z", tz = "UTC"),
    r_version = paste(R.version$major, R.version$minor, sep = "."),
    packages = package_versions(trained$packages),
    params = trained$params,
    metrics = trained$metrics,
    predict_args = list()
  )
}

quality_directions <- c("higher", "lower")

quality_config_error <- function(message) {
  config_error(message, class = "quality_config_error")
}

# Checks the gate's settings against the metrics training produced. Called before anything is
# created in MLflow: a typo must not leave a FAILED run and a registered version behind on every
# Job retry.
check_quality_config <- function(metrics, metric, direction, threshold) {
  if (!direction %in% quality_directions) {
    stop(quality_config_error(sprintf(
      "quality direction '%s' is not one of: %s (higher: metric >= threshold passes; lower: metric <= threshold passes)",
      direction, paste(quality_directions, collapse = ", "))))
  }
  if (is.null(metrics[[metric]])) {
    stop(quality_config_error(sprintf("quality metric '%s' is not one of the metrics training produces: %s",
                                      metric, paste(names(metrics), collapse = ", "))))
  }
  if (!is.numeric(threshold) || length(threshold) != 1L || !is.finite(threshold)) {
    stop(quality_config_error(sprintf("quality threshold must be a finite number, got '%s'", format(threshold))))
  }
  invisible(TRUE)
}

# higher: the metric must reach the threshold (accuracy); lower: stay at or under it (oob_error).
quality_gate_passes <- function(metrics, metric, threshold, direction = "higher") {
  check_quality_config(metrics, metric, direction, threshold)
  value <- metrics[[metric]]
  is.finite(value) && if (direction == "higher") value >= threshold else value <= threshold
}

# The MLflow side of a training run. Any error marks the run FAILED and is re-raised.
train_with_mlflow <- function(client, config, trained, scratch, health_path) {
  check_quality_config(trained$metrics, config$metric, config$direction, config$threshold)
  mlflow_wait(client, health_path)
  experiment_id <- mlflow_get_or_create_experiment(client, config$experiment)
  run <- mlflow_create_run(client, experiment_id, run_name = "train-iris",
                           tags = list(mlflow.source.type = "JOB", rmlops.program = "r/train.R"))
  run_id <- run$run_id
  tryCatch({
    mlflow_log_batch(client, run_id, params = trained$params, metrics = trained$metrics)
    dir <- tempfile("bundle-", tmpdir = scratch)
    write_bundle(dir, trained$model, trained$prototype, bundle_metadata(trained, run_id))
    source <- mlflow_upload_dir(client, run$artifact_uri, dir, "model")
    mlflow_ensure_registered_model(client, config$model_name)
    mv <- mlflow_create_model_version(client, config$model_name, source, run_id)
    mv <- mlflow_wait_version_ready(client, config$model_name, mv$version)
    passed <- quality_gate_passes(trained$metrics, config$metric, config$threshold, config$direction)
    if (passed) mlflow_set_alias(client, config$model_name, config$alias, mv$version)
    log_line(list(level = if (passed) "info" else "warn", msg = "quality gate", metric = config$metric,
                  value = trained$metrics[[config$metric]], direction = config$direction, threshold = config$threshold,
                  alias = config$alias, alias_moved = passed, version = mv$version))
    mlflow_update_run(client, run_id, "FINISHED")
    list(run_id = run_id, version = mv$version, alias_moved = passed)
  }, error = function(e) {
    try(mlflow_update_run(client, run_id, "FAILED"), silent = TRUE)
    stop(e)
  })
}
