# run_training() logs JSON lines; keep them out of the test report.
quiet <- function(expr) {
  value <- NULL
  utils::capture.output(value <- expr)
  value
}

script_file <- function(...) {
  path <- tempfile("train-", fileext = ".R")
  writeLines(c(...), path)
  path
}

good_script <- c(
  "train <- function() {",
  "  fit <- lm(mpg ~ wt, data = mtcars)",
  "  list(model = fit, metrics = list(rmse = 3, r_squared = 0.75), params = list(formula = 'mpg ~ wt'),",
  "       example = mtcars[1:2, 'wt', drop = FALSE])",
  "}"
)

expect_script_error <- function(expr, pattern) {
  err <- tryCatch(expr, error = function(e) e)
  expect_s3_class(err, "training_script_error")
  expect_s3_class(err, "config_error")
  expect_match(conditionMessage(err), pattern)
}

test_that("user script errors are training_script_errors (config errors) with a clear message", {
  expect_script_error(load_training_script(NA_character_), "no training script given")
  expect_script_error(load_training_script(""), "no training script given")
  expect_script_error(load_training_script("/no/such/train.R"), "/no/such/train.R not found")
  expect_script_error(load_training_script(tempdir()), "is a directory")
  expect_script_error(load_training_script(script_file("train <- function( {")), "cannot be parsed")
  expect_script_error(load_training_script(script_file("stop('no data here')", good_script)), "sourcing .* failed: no data here")
  expect_script_error(load_training_script(script_file("fit <- function() 1")), "does not define a function train\\(\\)")
  expect_script_error(load_training_script(script_file("train <- 42")), "does not define a function train\\(\\)")
  expect_script_error(load_training_script(script_file("train <- function(data) list()")), "callable without arguments; it requires: data")
})

test_that("a good script is sourced into a fresh environment, in its own folder", {
  dir <- tempfile("script-dir-")
  dir.create(dir)
  writeLines("42", file.path(dir, "answer.txt"))
  path <- file.path(dir, "train.R")
  writeLines(c("answer <- as.numeric(readLines('answer.txt'))", good_script), path)
  train <- load_training_script(path)
  expect_equal(get("answer", environment(train)), 42)
  expect_false(exists("answer", envir = globalenv(), inherits = FALSE))
  expect_equal(check_training_result(train())$metrics$rmse, 3)
  # Defaults on train()'s arguments are fine.
  expect_true(is.function(load_training_script(script_file("train <- function(seed = 1) list()"))))
})

with_field <- function(x, name, value) {
  x[[name]] <- value
  x
}

test_that("a wrong return shape from train() is a training_script_error", {
  ok <- list(model = stats::lm(dist ~ speed, data = datasets::cars), metrics = list(rmse = 1),
             example = datasets::cars[1, "speed", drop = FALSE])
  expect_script_error(check_training_result(42), "train\\(\\) returned numeric")
  expect_script_error(check_training_result(datasets::cars), "returned data.frame")
  expect_script_error(check_training_result(c(ok, list(metric = 1))), "unknown field\\(s\\) metric")
  expect_script_error(check_training_result(ok[c("metrics", "example")]), "returned no model")
  expect_script_error(check_training_result(ok[c("model", "example")]), "returned no metrics")
  expect_script_error(check_training_result(with_field(ok, "example", list(speed = 1))), "example that is not a data frame")
  expect_script_error(check_training_result(with_field(ok, "metrics", list(rmse = "low"))), "metrics with rmse: each must be one finite number")
  expect_script_error(check_training_result(with_field(ok, "metrics", list(rmse = NaN))), "finite number")
  unnamed <- ok
  unnamed$metrics <- list(1, 2)
  expect_script_error(check_training_result(unnamed), "metrics that is not a named list")
  expect_script_error(check_training_result(with_field(ok, "params", list(v = 1:3))), "params with v")
  expect_script_error(check_training_result(with_field(ok, "predict_args", "prob")), "predict_args that is not a list")
  checked <- check_training_result(with_field(ok, "metrics", c(rmse = 2L, mae = 1)))
  expect_equal(checked$metrics, list(rmse = 2, mae = 1))
  expect_equal(checked$predict_args, list())
})

test_that("run_training in local mode writes a bundle from a function or a script", {
  dir <- file.path(tempfile("local-"), "model")
  res <- quiet(run_training(function() list(model = stats::lm(dist ~ speed, data = datasets::cars), metrics = list(rmse = 1),
                                            example = datasets::cars[1:2, "speed", drop = FALSE]), model_dir = dir))
  expect_equal(res$bundle_dir, dir)
  expect_equal(read_bundle(dir)$manifest$metrics, list(rmse = 1))
  dir2 <- file.path(tempfile("local-"), "model")
  quiet(run_training(script_file(good_script), model_dir = dir2))
  expect_equal(read_bundle(dir2)$manifest$params, list(formula = "mpg ~ wt"))
})

# An MLflow client that counts the requests it would send and refuses them all.
counting_client <- function() {
  calls <- 0L
  transport <- function(method, url, ...) {
    calls <<- calls + 1L
    stop("Failed to connect to 127.0.0.1 port 1: Connection refused")
  }
  list(client = mlflow_client("http://127.0.0.1:1", wait_seconds = 0, sleep = function(s) NULL, transport = transport),
       calls = function() calls)
}

gate <- list(model_name = "cars", quality_metric = "rmse", quality_threshold = 10, quality_direction = "lower")

test_that("an unwritable bundle folder fails with a config error before any MLflow call", {
  root <- tempfile("unwritable-")
  dir.create(root)
  writeLines("x", file.path(root, "file"))
  s <- counting_client()
  err <- tryCatch(quiet(do.call(run_training, c(list(script_file(good_script), client = s$client,
                                                     model_dir = file.path(root, "file", "model")), gate))),
                  error = function(e) e)
  expect_s3_class(err, "config_error")
  expect_equal(s$calls(), 0L)
})

test_that("a full disk (filled tmpfs) fails with a retryable error before any MLflow call", {
  dir <- full_tmpfs()
  skip_if(is.na(dir), "cannot mount a tmpfs here (needs root)")
  withr::defer(unmount(dir))
  s <- counting_client()
  err <- tryCatch(quiet(do.call(run_training, c(list(script_file(good_script), client = s$client,
                                                     model_dir = file.path(dir, "model")), gate))),
                  error = function(e) e)
  expect_s3_class(err, "retryable_error")
  expect_false(inherits(err, "config_error"))
  expect_equal(s$calls(), 0L)
  expect_equal(leftovers(dir, "filler"), character())
})

test_that("MLflow mode needs a model name and a gate; a bad gate fails before MLflow", {
  s <- counting_client()
  expect_error(run_training(script_file(good_script), client = s$client, quality_metric = "rmse", quality_threshold = 1),
               "registered model name", class = "config_error")
  expect_error(run_training(script_file(good_script), client = s$client, model_name = "m"), class = "quality_config_error")
  expect_error(quiet(run_training(script_file(good_script), client = s$client, model_name = "m", quality_metric = "accuracy",
                                  quality_threshold = 0.9)), "not one of the metrics training produces: rmse, r_squared",
               class = "quality_config_error")
  expect_equal(s$calls(), 0L)
})

test_that("the example scripts train: iris (classes, accuracy) and mtcars (regression, rmse and r_squared)", {
  examples <- examples_dir()
  skip_if(is.na(examples), "examples/ is not beside the package (R CMD check)")
  iris <- check_training_result(load_training_script(file.path(examples, "iris", "train.R"))())
  expect_gt(iris$metrics$accuracy, 0.9)
  expect_s3_class(iris$model, "randomForest")
  mt <- check_training_result(load_training_script(file.path(examples, "mtcars", "train.R"))())
  expect_true(all(c("rmse", "r_squared") %in% names(mt$metrics)))
  expect_lt(mt$metrics$rmse, 4)
  expect_equal(vapply(mt$example, function(c) class(c)[[1L]], ""), c(wt = "numeric", hp = "numeric", cyl = "factor", manual = "logical"))
  dir <- file.path(tempfile("mtcars-"), "model")
  write_bundle(mt$model, dir, mt$example)
  expect_equal(read_bundle(dir)$output$kind, "numeric")
})

test_that("the iris example's holdout metrics come from the confusion matrix", {
  examples <- examples_dir()
  skip_if(is.na(examples), "examples/ is not beside the package (R CMD check)")
  env <- new.env()
  sys.source(file.path(examples, "iris", "train.R"), envir = env)
  m <- env$classification_metrics(c("a", "a", "b", "b"), c("a", "b", "b", "b"))
  expect_equal(m$accuracy, 0.75)
  expect_equal(m$precision_b, 2 / 3)
  expect_equal(m$recall_a, 0.5)
  expect_equal(m$kappa, 0.5)
  test <- env$stratified_split(datasets::iris$Species, 0.3, 1L)
  expect_equal(as.vector(table(datasets::iris$Species[test])), c(15L, 15L, 15L))
})

test_that("the quality gate passes on the right side of the threshold", {
  m <- list(accuracy = 0.75)
  expect_true(quality_gate_passes(m, "accuracy", 0.7))
  expect_false(quality_gate_passes(m, "accuracy", 0.8))
  expect_error(quality_gate_passes(m, "auc", 0.5), "not one of")
})
