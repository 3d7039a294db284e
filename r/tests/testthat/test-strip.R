# strip_model(): predictions unchanged, training rows gone (including those reachable through a
# formula's environment), and the bundle stripped by default with an opt-out.

# Credit-like data. Row names and an unused column carry sentinels found nowhere but in the
# training data, so a serialized model containing them carries training rows.
credit_rows <- function(n, seed = 1L) {
  set.seed(seed)
  d <- data.frame(income = round(stats::rnorm(n, 50, 10), 2), age = round(stats::runif(n, 20, 70)),
                  region = factor(sample(c("north", "south", "east"), n, TRUE), levels = c("east", "north", "south")),
                  holder = paste0("HOLDER-SECRET-", seq_len(n)), stringsAsFactors = FALSE)
  d$default <- stats::rbinom(n, 1L, stats::plogis(-3 + 0.04 * d$income + 0.01 * d$age + 0.5 * (d$region == "south")))
  rownames(d) <- paste0("cust-SENTINEL-", seq_len(n))
  d
}

# Fitted inside a function, as a training script does: the formula's environment is this frame,
# which holds the whole data frame `rows`.
fit_in_function <- function(fit) function(n) { rows <- credit_rows(n); fit(rows) }
credit_glm <- fit_in_function(function(rows) stats::glm(default ~ income + age + region, data = rows, family = stats::binomial))
credit_lm <- fit_in_function(function(rows) stats::lm(income ~ age + region, data = rows))

new_rows <- function() credit_rows(25L, seed = 99L)[, c("income", "age", "region")]

holds_training_rows <- function(model) {
  bytes <- serialize(model, connection = NULL)
  length(grepRaw("SENTINEL", bytes)) > 0L || length(grepRaw("HOLDER-SECRET", bytes)) > 0L
}

test_that("a fitted glm holds its training rows, through its fields and its formula's environment", {
  fit <- credit_glm(300L)
  expect_true(holds_training_rows(fit))
  expect_true(exists("rows", envir = environment(fit$terms), inherits = FALSE))
})

test_that("glm with a factor column: stripped predictions are identical (response and link), no training rows left", {
  fit <- credit_glm(300L)
  small <- strip_model(fit)
  expect_s3_class(small, c("glm", "lm"), exact = TRUE)
  nd <- new_rows()
  expect_identical(predict(small, nd, type = "response"), predict(fit, nd, type = "response"))
  expect_identical(predict(small, nd, type = "link"), predict(fit, nd, type = "link"))
  expect_false(holds_training_rows(small))
  expect_null(small$data)
  expect_null(small$y)
  expect_null(small$model)
  expect_identical(environment(small$terms), globalenv())
  expect_equal(dim(small$qr$qr), c(length(coef(fit)), length(coef(fit))))
  expect_lt(length(serialize(small, NULL)), length(serialize(fit, NULL)) / 4)
})

test_that("a stripped glm's size does not grow with the number of training rows", {
  size <- function(n) length(serialize(strip_model(credit_glm(n)), NULL))
  expect_lt(abs(size(4000L) - size(200L)), 256)
  expect_gt(length(serialize(credit_glm(4000L), NULL)) - length(serialize(credit_glm(200L), NULL)), 100000)
})

test_that("lm: stripped predictions are identical, no training rows left", {
  fit <- credit_lm(300L)
  small <- strip_model(fit)
  nd <- new_rows()
  expect_identical(predict(small, nd), predict(fit, nd))
  expect_true(holds_training_rows(fit))
  expect_false(holds_training_rows(small))
  expect_identical(class(small), "lm")
})

test_that("strip_call() drops values embedded by do.call() and keeps names and expressions", {
  rows <- credit_rows(50L)
  fit <- do.call(stats::glm, list(formula = default ~ income + region, data = rows, family = stats::binomial()))
  expect_true(holds_training_rows(fit$call))
  small <- strip_model(fit)
  expect_false(holds_training_rows(small))
  expect_identical(predict(small, new_rows(), type = "response"), predict(fit, new_rows(), type = "response"))
  expect_identical(strip_call(quote(lm(y ~ x, data = credit, offset = log(n)))), quote(lm(y ~ x, data = credit, offset = log(n))))
})

test_that("randomForest: stripped class and probability predictions are identical, no training rows left", {
  skip_if_not_installed("randomForest")
  rows <- credit_rows(300L)
  rows$default <- factor(rows$default)
  set.seed(2L)
  fit <- randomForest::randomForest(default ~ income + age + region, data = rows, ntree = 20L)
  small <- strip_model(fit)
  nd <- new_rows()
  expect_identical(predict(small, nd, type = "prob"), predict(fit, nd, type = "prob"))
  # Class votes are tied at random: the same seed for both.
  expect_identical(with_seed(predict(small, nd)), with_seed(predict(fit, nd)))
  expect_true(holds_training_rows(fit))
  expect_false(holds_training_rows(small))
  expect_lt(length(serialize(small, NULL)), length(serialize(fit, NULL)))
})

test_that("rpart: stripped class and probability predictions are identical, no training rows left", {
  skip_if_not_installed("rpart")
  rows <- credit_rows(300L)
  rows$default <- factor(rows$default)
  fit <- rpart::rpart(default ~ income + age + region, data = rows, cp = 0.001)
  small <- strip_model(fit)
  nd <- new_rows()
  expect_identical(predict(small, nd, type = "prob"), predict(fit, nd, type = "prob"))
  expect_identical(predict(small, nd, type = "class"), predict(fit, nd, type = "class"))
  expect_true(holds_training_rows(fit))
  expect_false(holds_training_rows(small))
})

test_that("write_bundle strips by default and records the sizes; strip = FALSE keeps the training rows", {
  fit <- credit_glm(300L)
  ex <- new_rows()[1:3, ]
  dir <- file.path(tempfile("strip-"), "model")
  write_bundle(fit, dir, ex, predict_args = list(type = "response"))
  b <- read_bundle(dir)
  expect_true(b$manifest$model$stripped)
  expect_equal(b$manifest$model$bytes, file.size(file.path(dir, "model.rds")))
  expect_equal(b$manifest$model$unstripped_bytes, length(serialize(fit, NULL, xdr = TRUE, version = 3L)))
  expect_lt(b$manifest$model$bytes, b$manifest$model$unstripped_bytes / 4)
  expect_false(holds_training_rows(b$model))
  expect_equal(length(grepRaw("SENTINEL", readBin(file.path(dir, "model.rds"), "raw", 1e7))), 0L)
  expect_identical(predict_bundle(b, new_rows()), unname(predict(fit, new_rows(), type = "response")))

  full <- file.path(tempfile("strip-"), "model")
  write_bundle(fit, full, ex, predict_args = list(type = "response"), strip = FALSE)
  kept <- read_bundle(full)
  expect_false(kept$manifest$model$stripped)
  expect_null(kept$manifest$model$unstripped_bytes)
  expect_true(holds_training_rows(kept$model))
})

test_that("a strip method that breaks predict() is refused with the fix, and a user's method is used", {
  fit <- structure(list(inner = credit_lm(100L)), class = "wrapped_model")
  registerS3method("predict", "wrapped_model", function(object, newdata, ...) predict(object$inner, newdata), envir = asNamespace("rmlops"))
  registerS3method("strip_model", "wrapped_model", function(model, ...) { model$inner <- NULL; model }, envir = asNamespace("rmlops"))
  err <- tryCatch(write_bundle(fit, file.path(tempfile("strip-"), "m"), new_rows()[1:2, ]), error = identity)
  expect_s3_class(err, "bundle_input_error")
  expect_match(conditionMessage(err), "stripped of its training data \\(class wrapped_model\\) fails")
  expect_match(conditionMessage(err), "RMLOPS_KEEP_TRAINING_DATA=true")
  expect_match(conditionMessage(err), "strip_model.wrapped_model")
  registerS3method("strip_model", "wrapped_model", function(model, ...) { model$inner <- strip_model(model$inner); model },
                   envir = asNamespace("rmlops"))
  dir <- file.path(tempfile("strip-"), "m")
  write_bundle(fit, dir, new_rows()[1:2, ])
  expect_false(holds_training_rows(read_bundle(dir)$model))
})

test_that("a training script's strip_model.<class> is registered, and RMLOPS_KEEP_TRAINING_DATA=true keeps the rows", {
  script <- tempfile(fileext = ".R")
  writeLines(c(
    "train <- function() {",
    "  rows <- data.frame(x = c(1, 2, 3, 4, 5), y = c(2.1, 3.9, 6.2, 8.1, 9.8), row.names = paste0('SENTINEL-', 1:5))",
    "  fit <- structure(list(lm = lm(y ~ x, data = rows)), class = 'script_model')",
    "  list(model = fit, metrics = list(r2 = 0.9), example = rows[1:2, 'x', drop = FALSE])",
    "}",
    "predict.script_model <- function(object, newdata, ...) predict(object$lm, newdata)",
    "strip_model.script_model <- function(model, ...) { model$lm <- rmlops::strip_model(model$lm); model }"), script)
  train <- load_training_script(script)
  registerS3method("predict", "script_model", function(object, newdata, ...) predict(object$lm, newdata), envir = asNamespace("rmlops"))
  res <- run_training(train, model_dir = file.path(tempfile("strip-"), "m"))
  expect_false(holds_training_rows(read_bundle(res$bundle_dir)$model))

  name <- test_contract$env$keepTrainingData
  expect_equal(name, "RMLOPS_KEEP_TRAINING_DATA")
  withr::local_envvar(stats::setNames(c(script, file.path(tempfile("strip-"), "m"), "true"),
                                      c(test_contract$env$trainingScript, test_contract$env$modelDir, name)))
  expect_equal(train_main(), 0L)
  kept <- read_bundle(Sys.getenv(test_contract$env$modelDir))
  expect_false(kept$manifest$model$stripped)
  expect_true(holds_training_rows(kept$model))
})

test_that("a formula calling a function (poly) still predicts after its environment is stripped", {
  fit <- stats::lm(dist ~ poly(speed, 2), data = datasets::cars)
  nd <- data.frame(speed = c(5, 12.5, 30))
  expect_identical(predict(strip_model(fit), nd), predict(fit, nd))
})
