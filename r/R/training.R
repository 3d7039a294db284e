# The training entry: runs the user's training code, then everything else (MLflow run, logging,
# bundle, upload, registration, the quality-gated alias). The user's code only fits the model.

training_script_error <- function(message) config_error(message, class = "training_script_error")

training_result_fields <- c("model", "metrics", "params", "example", "predict_args", "reference")

#' Load a user training script
#'
#' Sources `path` into a fresh environment (its working directory set to the script's folder
#' while it is sourced) and returns the `train` function it defines. The script must define
#' `train()`, callable without arguments, returning
#' `list(model =, metrics =, params =, example =, predict_args =, reference =)`: see [run_training()].
#'
#' A missing or unreadable file, a parse error, an error while the script's top-level code runs
#' (put data loading inside `train()`), or no `train` function raise a
#' `training_script_error` (a `config_error`).
#' @param path Absolute path of the R script.
#' @return The script's `train` function.
#' @examples
#' script <- tempfile(fileext = ".R")
#' writeLines(c("train <- function() {",
#'              "  fit <- lm(mpg ~ wt, data = mtcars)",
#'              "  list(model = fit, metrics = list(r_squared = summary(fit)$r.squared),",
#'              "       example = mtcars[1:3, \"wt\", drop = FALSE])",
#'              "}"), script)
#' train <- load_training_script(script)
#' names(train())
#' @export
load_training_script <- function(path) {
  if (is.null(path) || length(path) != 1L || is.na(path) || !nzchar(path)) {
    stop(training_script_error("no training script given: set the training script path (the absolute path of an R file defining train())"))
  }
  if (!file.exists(path)) stop(training_script_error(sprintf("training script %s not found", path)))
  if (dir.exists(path)) stop(training_script_error(sprintf("training script %s is a directory, not an R file", path)))
  exprs <- tryCatch(parse(path, keep.source = FALSE, encoding = "UTF-8"), error = function(e) {
    stop(training_script_error(sprintf("training script %s cannot be parsed: %s", path, conditionMessage(e))))
  })
  env <- new.env(parent = globalenv())
  old <- setwd(dirname(normalizePath(path)))
  on.exit(setwd(old), add = TRUE)
  tryCatch(for (e in exprs) eval(e, env), error = function(e) {
    if (inherits(e, "config_error")) stop(e)
    stop(training_script_error(sprintf("sourcing training script %s failed: %s", path, conditionMessage(e))))
  })
  register_strip_methods(env)
  train <- get0("train", envir = env, inherits = FALSE)
  if (!is.function(train)) {
    stop(training_script_error(sprintf(
      "training script %s does not define a function train(): define train <- function() { ...; list(model =, metrics =, example =) }",
      path)))
  }
  required <- names(Filter(function(d) identical(d, quote(expr = )), formals(train)))
  required <- setdiff(required, "...")
  if (length(required) > 0L) {
    stop(training_script_error(sprintf("train() in %s must be callable without arguments; it requires: %s",
                                       path, paste(required, collapse = ", "))))
  }
  train
}

# A script sources into its own environment, where S3 dispatch from the package would not see
# its methods: the strip_model.<class> functions it defines are registered (see ?strip_model).
register_strip_methods <- function(env) {
  for (name in grep("^strip_model\\.", ls(env, all.names = TRUE), value = TRUE)) {
    fn <- get(name, envir = env)
    if (is.function(fn)) registerS3method("strip_model", sub("^strip_model\\.", "", name), fn, envir = asNamespace("rmlops"))
  }
  invisible()
}

# A named list of scalars, or a config error naming what is wrong.
check_named_scalars <- function(x, what, numeric) {
  if (is.null(x)) return(list())
  if (is.atomic(x) && !is.null(names(x)) && !is.factor(x)) x <- as.list(x)
  if (!is.list(x) || is.data.frame(x) || (length(x) > 0L && (is.null(names(x)) || any(!nzchar(names(x)))))) {
    stop(training_script_error(sprintf("train() returned %s that is not a named list", what)))
  }
  if (anyDuplicated(names(x))) stop(training_script_error(sprintf("train() returned %s with duplicate names", what)))
  ok <- vapply(x, function(v) {
    if (numeric) is.numeric(v) && length(v) == 1L && is.finite(v)
    else is.atomic(v) && length(v) == 1L && !is.na(v)
  }, NA)
  if (!all(ok)) {
    stop(training_script_error(sprintf("train() returned %s with %s: each must be %s", what,
                                       paste(names(x)[!ok], collapse = ", "),
                                       if (numeric) "one finite number" else "one non-missing value")))
  }
  lapply(x, function(v) if (numeric) as.numeric(v) else v)
}

#' Check what a training function returned
#'
#' @param result The value `train()` returned.
#' @return The result with `metrics`, `params` and `predict_args` normalised to lists; a
#'   `training_script_error` (a `config_error`) if its shape is wrong.
#' @keywords internal
check_training_result <- function(result) {
  if (!is.list(result) || is.data.frame(result) || is.null(names(result))) {
    stop(training_script_error(sprintf(
      "train() returned %s: it must return list(model =, metrics =, example =, params =, predict_args =)",
      paste(class(result), collapse = "/"))))
  }
  unknown <- setdiff(names(result), training_result_fields)
  if (length(unknown) > 0L) {
    stop(training_script_error(sprintf("train() returned unknown field(s) %s: the fields are %s",
                                       paste(unknown, collapse = ", "), paste(training_result_fields, collapse = ", "))))
  }
  missing <- setdiff(c("model", "metrics", "example"), names(result)[!vapply(result, is.null, NA)])
  if (length(missing) > 0L) {
    stop(training_script_error(sprintf("train() returned no %s: it must return list(model =, metrics =, example =, ...)",
                                       paste(missing, collapse = ", "))))
  }
  if (!is.data.frame(result$example) || nrow(result$example) < 1L || ncol(result$example) < 1L) {
    stop(training_script_error("train() returned an example that is not a data frame of at least one input row"))
  }
  result$metrics <- check_named_scalars(result$metrics, "metrics", numeric = TRUE)
  if (length(result$metrics) == 0L) stop(training_script_error("train() returned no metrics: the quality gate needs at least one"))
  result$params <- check_named_scalars(result$params, "params", numeric = FALSE)
  if (!is.null(result$predict_args) && !is.list(result$predict_args)) {
    stop(training_script_error("train() returned predict_args that is not a list, e.g. list(type = \"prob\")"))
  }
  result$predict_args <- result$predict_args %||% list()
  if (!is.null(result$reference)) {
    if (!is.data.frame(result$reference) || nrow(result$reference) < 1L) {
      stop(training_script_error("train() returned a reference that is not a data frame of training rows"))
    }
    missing <- setdiff(names(result$example), names(result$reference))
    if (length(missing) > 0L) {
      stop(training_script_error(sprintf("train() returned a reference without the feature column(s) %s",
                                         paste(missing, collapse = ", "))))
    }
  }
  result
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

#' Run training: the user's code, then MLflow, the bundle and the gated alias
#'
#' Calls the user's training function (or the `train()` of a script, see
#' [load_training_script()]) and checks what it returns:
#' `list(model =, metrics = <named list of numbers>, params = <named list, optional>,
#' example = <data frame of a few input rows>, predict_args = <list, optional>,
#' reference = <data frame of the training rows, optional>)`.
#'
#' The drift monitor's training reference ([build_reference()]: a seeded sample of at most
#' `reference_rows` training rows with the model's predictions, and per-feature summaries) is
#' made from `reference`, or, without it, from the rows an `lm` or `glm` keeps (`data`, `model`),
#' and written into the bundle's `reference/` folder. No reference is written when neither is
#' there (a warning is logged) or when `reference_rows` is 0.
#' Then writes the bundle ([write_bundle()]) into `model_dir`, and with a tracking URI:
#' waits for MLflow, creates a run named `train-<model_name>`, logs params and metrics,
#' uploads the bundle through the artifact proxy, registers a version, waits until it is
#' `READY`, and moves `alias` to it if the quality gate passes. Any failure after the run was
#' created marks it `FAILED`.
#'
#' Configuration problems (bad gate settings, a wrong script or result, an unwritable
#' `model_dir`) raise a `config_error` before anything is created in MLflow; a bundle write that
#' fails for lack of space raises a `retryable_error`, also before any MLflow call.
#'
#' @param train A function callable without arguments, or the path of an R script defining
#'   `train()`.
#' @param tracking_uri MLflow tracking URI; `NA` writes the bundle only (local mode).
#' @param model_name Registered model name (required with a tracking URI).
#' @param experiment MLflow experiment name.
#' @param alias Alias moved to the new version when the gate passes.
#' @param quality_metric Name of the metric that gates the alias.
#' @param quality_threshold Threshold of the gate.
#' @param quality_direction `"higher"` (metric >= threshold passes) or `"lower"` (metric <=
#'   threshold passes).
#' @param model_dir Where the bundle is written; a temporary folder by default.
#' @param wait_seconds How long to wait for MLflow.
#' @param client An [mlflow_client()] to use instead of one built from `tracking_uri`.
#' @param health_path MLflow health path.
#' @param keep_training_data `FALSE` (the default) strips the training data from the model before
#'   it is bundled ([strip_model()]); `TRUE` bundles the model as fitted.
#' @param reference_rows Most rows of the training reference's sample; 0 writes no reference.
#' @return A list: `bundle_dir`, and with MLflow `run_id`, `version`, `alias_moved`.
#' @examples
#' train <- function() {
#'   fit <- lm(mpg ~ wt + hp, data = mtcars)
#'   list(model = fit, metrics = list(r_squared = summary(fit)$r.squared),
#'        example = mtcars[1:3, c("wt", "hp")])
#' }
#' res <- run_training(train, model_dir = file.path(tempdir(), "mtcars-bundle"))
#' list.files(res$bundle_dir)
#' @export
run_training <- function(train, tracking_uri = NA_character_, model_name = NULL, experiment = "rmlops",
                         alias = "champion", quality_metric = NULL, quality_threshold = NULL,
                         quality_direction = "higher", model_dir = NULL, wait_seconds = 300, client = NULL,
                         health_path = rmlops_contract()$paths$mlflowHealth, keep_training_data = FALSE,
                         reference_rows = reference_default_rows) {
  mlflow_mode <- !is.null(client) || (!is.null(tracking_uri) && !is.na(tracking_uri) && nzchar(tracking_uri))
  if (mlflow_mode) {
    if (is.null(model_name) || is.na(model_name) || !nzchar(model_name)) {
      stop(config_error("a registered model name is needed to train with MLflow"))
    }
    if (is.null(quality_metric) || is.null(quality_threshold)) {
      stop(quality_config_error("a quality metric and threshold are needed to gate the alias"))
    }
  }
  fn <- if (is.function(train)) train else load_training_script(train)
  trained <- check_training_result(fn())
  log_line(list(level = "info", msg = "trained", metrics = trained$metrics))
  if (mlflow_mode) check_quality_config(trained$metrics, quality_metric, quality_direction, quality_threshold)
  dir <- model_dir %||% tempfile("bundle-")
  reference <- trained$reference %||% model_training_frame(trained$model, names(trained$example))
  if (is.null(reference) && reference_rows > 0) {
    log_line(list(level = "warn", msg = "no training reference: the drift monitor will have nothing to compare with; return reference = <the training rows> from train()"))
  }
  # Written before any MLflow call: a bundle that cannot be written leaves no run, upload or version.
  write_bundle(trained$model, dir, trained$example, trained$predict_args,
               info = list(metrics = trained$metrics, params = trained$params), strip = !isTRUE(keep_training_data),
               reference = reference, reference_rows = reference_rows)
  manifest <- jsonlite::read_json(file.path(dir, "bundle.json"))
  written <- manifest$model
  log_line(list(level = "info", msg = "bundle written", dir = normalizePath(dir), model_bytes = written$bytes,
                stripped = written$stripped, unstripped_bytes = written$unstripped_bytes,
                reference_rows = manifest$reference$sample_rows %||% 0L,
                bundle_bytes = sum(file.size(list.files(dir, recursive = TRUE, full.names = TRUE)))))
  if (!mlflow_mode) return(list(bundle_dir = dir))
  client <- client %||% mlflow_client(tracking_uri, wait_seconds = wait_seconds)
  config <- list(experiment = experiment, model_name = model_name, alias = alias, metric = quality_metric,
                 threshold = quality_threshold, direction = quality_direction)
  c(list(bundle_dir = dir), train_with_mlflow(client, config, trained, dir, health_path))
}

# The MLflow side of a training run. Any error marks the run FAILED and is re-raised.
train_with_mlflow <- function(client, config, trained, bundle_dir, health_path) {
  check_quality_config(trained$metrics, config$metric, config$direction, config$threshold)
  mlflow_wait(client, health_path)
  experiment_id <- mlflow_get_or_create_experiment(client, config$experiment)
  run <- mlflow_create_run(client, experiment_id, run_name = paste0("train-", config$model_name),
                           tags = list(mlflow.source.type = "JOB", rmlops.program = "rmlops::run_training",
                                       rmlops.bundle_format_version = bundle_format_version()))
  run_id <- run$run_id
  tryCatch({
    mlflow_log_batch(client, run_id, params = trained$params, metrics = trained$metrics)
    source <- mlflow_upload_dir(client, run$artifact_uri, bundle_dir, "model")
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

#' Entry points of the R images
#'
#' `train_main()` is what `Rscript /opt/rmlops/train.R` runs: it reads its settings from the
#' environment variables named in the contract ([rmlops_contract()]: `trainingScript`,
#' `trackingUri`, `experimentName`, `registeredModelName`, `modelAlias`, `qualityMetric`,
#' `qualityThreshold`, `qualityDirection`, `mlflowWaitSeconds`, `modelDir`, `keepTrainingData`:
#' `true` bundles the model with its training data; `referenceRows`: the most rows of the drift
#' reference's sample, default 1000, 0 for none) and calls
#' [run_training()]. `serve_main()` is what `Rscript /opt/rmlops/serve.R` runs: it reads
#' `modelUri`, `trackingUri`, `httpPort`, `maxBodyBytes`, `mlflowWaitSeconds` and calls
#' [serve_model()].
#'
#' Both return the process exit status instead of quitting: 0 on success; the contract's
#' `trainingConfigErrorExitCode` (2) for a configuration error (the training Job's
#' podFailurePolicy then fails at once instead of retrying); 1 for anything else, e.g. MLflow
#' unreachable, a full disk, or (server) no model loaded within the wait.
#' @param contract The contract, see [rmlops_contract()].
#' @return An integer exit status.
#' @examples
#' \dontrun{
#' quit(status = rmlops::train_main(), save = "no")
#' }
#' @export
train_main <- function(contract = rmlops_contract()) {
  status_of(contract, {
    tracking <- contract_env(contract, "trackingUri")
    mlflow_mode <- !is.na(tracking)
    args <- list(
      train = contract_env(contract, "trainingScript"),
      tracking_uri = tracking,
      model_name = contract_env(contract, "registeredModelName"),
      experiment = contract_env(contract, "experimentName", "rmlops"),
      alias = contract_env(contract, "modelAlias", "champion"),
      quality_metric = contract_env(contract, "qualityMetric", "accuracy"),
      quality_threshold = contract_env_number(contract, "qualityThreshold", 0.9),
      quality_direction = contract_env(contract, "qualityDirection", "higher"),
      model_dir = contract_env(contract, "modelDir", if (mlflow_mode) NA_character_ else "./model"),
      wait_seconds = contract_env_number(contract, "mlflowWaitSeconds", 300),
      health_path = contract$paths$mlflowHealth,
      keep_training_data = identical(tolower(contract_env(contract, "keepTrainingData", "false")), "true"),
      reference_rows = contract_env_number(contract, "referenceRows", reference_default_rows)
    )
    if (args$reference_rows < 0 || args$reference_rows != round(args$reference_rows)) {
      stop(config_error(sprintf("%s must be a whole number >= 0 (0: no drift reference), got %s",
                                contract_env_name(contract, "referenceRows"), format(args$reference_rows))))
    }
    if (is.na(args$train)) {
      stop(training_script_error(sprintf("%s is not set: give the absolute path of your R training script (it defines train())",
                                         contract_env_name(contract, "trainingScript"))))
    }
    if (is.na(args$model_dir)) args$model_dir <- NULL
    if (is.na(args$model_name)) args$model_name <- NULL
    # Checked before the user's code runs: a typo in the gate must not cost a training.
    if (mlflow_mode && !args$quality_direction %in% quality_directions) {
      check_quality_config(list(), args$quality_metric, args$quality_direction, args$quality_threshold)
    }
    result <- do.call(run_training, args)
    log_line(c(list(level = "info", msg = if (mlflow_mode) "training run finished" else "bundle written (local mode)"), result))
  })
}

# Evaluates `expr`; any error is logged as one JSON line on stderr and mapped to an exit status.
status_of <- function(contract, expr) {
  tryCatch({ force(expr); 0L }, error = function(e) {
    config <- inherits(e, "config_error")
    cat(as.character(jsonlite::toJSON(list(level = "error", msg = conditionMessage(e), error_class = class(e)[[1L]],
                                           config_error = config, retryable = inherits(e, "retryable_error")),
                                      auto_unbox = TRUE)), "\n", sep = "", file = stderr())
    if (config) as.integer(contract$trainingConfigErrorExitCode) else 1L
  })
}
