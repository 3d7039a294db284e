# The training reference: bounded, seeded, typed, written with the bundle, read back.

# run_training() logs JSON lines; keep them out of the test report.
silence <- function(expr) {
  value <- NULL
  utils::capture.output(value <- expr)
  value
}

mtcars_frame <- function() {
  d <- datasets::mtcars
  data.frame(wt = d$wt, hp = d$hp, cyl = factor(d$cyl, levels = c(4, 6, 8, 12)), manual = d$am == 1, mpg = d$mpg)
}

test_that("build_reference summarises every training row and samples at most `rows`, seeded", {
  d <- mtcars_frame()
  feats <- feature_specs(d[1:3, c("wt", "hp", "cyl", "manual")])
  fit <- stats::lm(mpg ~ wt + hp + cyl + manual, data = d)
  pred <- function(x) unname(stats::predict(fit, x))
  ref <- build_reference(d, feats, pred, rows = 10)
  s <- ref$summary
  expect_equal(s$format, "rmlops-reference")
  expect_equal(s$training_rows, 32L)
  expect_equal(s$sample_rows, 10L)
  expect_equal(nrow(ref$sample), 10L)
  expect_equal(names(ref$sample), c("wt", "hp", "cyl", "manual", ".prediction"))
  # seeded: the same rows every time, whatever the caller's random state
  set.seed(99)
  again <- build_reference(d, feats, pred, rows = 10)
  expect_identical(again$sample, ref$sample)
  # summaries are of all 32 rows, not the sample
  wt <- s$features[[1]]
  expect_equal(wt$n, 32L)
  expect_equal(wt$mean, mean(d$wt))
  expect_equal(wt$sd, stats::sd(d$wt))
  expect_equal(c(wt$min, wt$max), range(d$wt))
  expect_equal(as.numeric(wt$breaks), unname(stats::quantile(d$wt, seq(0.1, 0.9, 0.1))))
  expect_equal(sum(wt$shares), 1)
  expect_equal(as.numeric(wt$shares), bin_shares(d$wt, as.numeric(wt$breaks)))
  # factor levels kept, the level no row has included (share 0)
  cyl <- s$features[[3]]
  expect_equal(as.character(cyl$levels), c("4", "6", "8", "12"))
  expect_equal(as.numeric(cyl$shares), c(11, 7, 14, 0) / 32)
  expect_equal(levels(ref$sample$cyl), c("4", "6", "8", "12"))
  manual <- s$features[[4]]
  expect_equal(as.character(manual$levels), c("FALSE", "TRUE"))
  expect_equal(as.numeric(manual$shares), c(19, 13) / 32)
  expect_equal(ref$sample$.prediction, pred(ref$sample[, 1:4]))
  expect_equal(s$prediction$kind, "numeric")
  # fewer rows than `rows`: all of them, in order
  all <- build_reference(d, feats, pred, rows = 1000)
  expect_equal(all$sample$wt, d$wt)
})

test_that("build_reference: class and probability predictions; bad reference data is a config error", {
  rf <- iris_rf()
  feats <- feature_specs(datasets::iris[1:2, 1:4])
  cls <- build_reference(datasets::iris, feats, function(x) as.character(stats::predict(rf, x)), rows = 50)
  expect_equal(cls$summary$prediction$kind, "class")
  expect_equal(sum(as.numeric(cls$summary$prediction$shares)), 1)
  prob <- build_reference(datasets::iris, feats, function(x) stats::predict(rf, x, type = "prob"), rows = 50)
  expect_equal(prob$summary$prediction$kind, "probabilities")
  expect_equal(as.character(prob$summary$prediction$levels), levels(datasets::iris$Species))
  expect_true(all(paste0(".prob.", levels(datasets::iris$Species)) %in% names(prob$sample)))
  expect_error(build_reference(datasets::iris[, 1:3], feats, identity), class = "bundle_input_error")
  expect_error(build_reference(datasets::iris[0, ], feats, identity), "no rows")
  expect_error(build_reference(as.list(datasets::iris), feats, identity), "must be a data frame")
})

test_that("a constant training feature has its value as the one cut point", {
  d <- data.frame(x = rep(3, 20), y = seq_len(20))
  ref <- build_reference(d, feature_specs(d[1, "x", drop = FALSE]), function(x) rep(1, nrow(x)), rows = 5)
  f <- ref$summary$features[[1]]
  expect_equal(as.numeric(f$breaks), 3)
  expect_equal(as.numeric(f$shares), c(1, 0))
  expect_true(is.na(f$sd) == FALSE && f$sd == 0)
})

test_that("write_bundle writes reference/ and bundle.json records it; read_reference reads it typed", {
  dir <- file.path(tempfile("ref-"), "model")
  d <- mtcars_frame()
  fit <- stats::lm(mpg ~ wt + hp + cyl + manual, data = d)
  write_bundle(fit, dir, d[1:3, c("wt", "hp", "cyl", "manual")], reference = d, reference_rows = 20)
  expect_setequal(list.files(dir, recursive = TRUE),
                  c(bundle_files, paste0(test_contract$monitor$referenceDir, "/", c("summary.json", "sample.csv"))))
  m <- jsonlite::read_json(file.path(dir, "bundle.json"))
  expect_equal(m$reference$dir, "reference")
  expect_equal(m$reference$sample_rows, 20L)
  expect_equal(m$reference$training_rows, 32L)
  ref <- read_reference(file.path(dir, test_contract$monitor$referenceDir))
  expect_equal(nrow(ref$sample), 20L)
  expect_s3_class(ref$sample$cyl, "factor")
  expect_equal(levels(ref$sample$cyl), c("4", "6", "8", "12"))
  expect_type(ref$sample$manual, "logical")
  expect_type(ref$sample$.prediction, "double")
  expect_equal(ref$sample$.prediction, unname(stats::predict(fit, ref$sample[, 1:4])), tolerance = 1e-12)
  expect_equal(ref$summary$features[[1]]$breaks, unname(stats::quantile(d$wt, seq(0.1, 0.9, 0.1))))
  # the served bundle is unchanged by it
  expect_equal(read_bundle(dir)$output$kind, "numeric")
  # the sample holds only the features: no other column, no row names
  expect_false(any(grepl("mpg|Mazda", readLines(file.path(dir, "reference", "sample.csv"))[1:3])))
})

test_that("reference_rows = 0, or no reference data, writes no reference; read_reference explains", {
  dir <- file.path(tempfile("ref-"), "model")
  d <- mtcars_frame()
  write_bundle(stats::lm(mpg ~ wt, data = d), dir, d[1:2, "wt", drop = FALSE], reference = d, reference_rows = 0)
  expect_setequal(list.files(dir, recursive = TRUE), bundle_files)
  expect_null(jsonlite::read_json(file.path(dir, "bundle.json"))$reference)
  expect_error(read_reference(file.path(dir, "reference")), class = "config_error")
  expect_error(read_reference(file.path(dir, "reference")), "no training reference")
})

test_that("run_training takes train()'s reference, else an lm's rows; RMLOPS_REFERENCE_ROWS bounds it", {
  expect_equal(test_contract$env$referenceRows, "RMLOPS_REFERENCE_ROWS")
  with_ref <- function() {
    list(model = stats::lm(mpg ~ wt, data = datasets::mtcars), metrics = list(rmse = 3),
         example = datasets::mtcars[1:2, "wt", drop = FALSE], reference = datasets::mtcars)
  }
  res <- silence(run_training(with_ref, model_dir = file.path(tempfile(), "m"), reference_rows = 7))
  expect_equal(jsonlite::read_json(file.path(res$bundle_dir, "bundle.json"))$reference$sample_rows, 7L)
  # no reference returned: the lm's model frame is used
  no_ref <- function() {
    list(model = stats::lm(mpg ~ wt, data = datasets::mtcars), metrics = list(rmse = 3),
         example = datasets::mtcars[1:2, "wt", drop = FALSE])
  }
  res <- silence(run_training(no_ref, model_dir = file.path(tempfile(), "m")))
  expect_equal(jsonlite::read_json(file.path(res$bundle_dir, "bundle.json"))$reference$training_rows, 32L)
  # a randomForest fitted on x/y keeps no rows: no reference, and a warning in the log
  rf <- function() {
    set.seed(1)
    list(model = randomForest::randomForest(x = datasets::iris[, 1:4], y = datasets::iris$Species, ntree = 5),
         metrics = list(accuracy = 1), example = datasets::iris[1:2, 1:4])
  }
  log <- utils::capture.output(res <- run_training(rf, model_dir = file.path(tempfile(), "m")))
  expect_true(any(grepl("no training reference", log)))
  expect_false(dir.exists(file.path(res$bundle_dir, "reference")))
  # train_main reads the variable; a bad value is a configuration error (exit 2)
  script <- tempfile(fileext = ".R")
  writeLines(c("train <- function() list(model = lm(mpg ~ wt, data = mtcars), metrics = list(rmse = 3),",
               "  example = mtcars[1:2, 'wt', drop = FALSE], reference = mtcars)"), script)
  dir <- file.path(tempfile(), "m")
  status <- withr::with_envvar(c(TRAINING_SCRIPT = script, MODEL_DIR = dir, RMLOPS_REFERENCE_ROWS = "5", MLFLOW_TRACKING_URI = NA),
                               silence(train_main()))
  expect_equal(status, 0L)
  expect_equal(jsonlite::read_json(file.path(dir, "bundle.json"))$reference$sample_rows, 5L)
  status <- withr::with_envvar(c(TRAINING_SCRIPT = script, MODEL_DIR = dir, RMLOPS_REFERENCE_ROWS = "-1", MLFLOW_TRACKING_URI = NA),
                               suppressWarnings(silence(train_main())))
  expect_equal(status, test_contract$trainingConfigErrorExitCode)
})

test_that("train() returning a bad reference is a training script error", {
  bad <- function(reference) {
    function() list(model = stats::lm(mpg ~ wt, data = datasets::mtcars), metrics = list(rmse = 3),
                    example = datasets::mtcars[1:2, "wt", drop = FALSE], reference = reference)
  }
  expect_error(silence(run_training(bad(as.list(datasets::mtcars)))), class = "training_script_error")
  expect_error(silence(run_training(bad(datasets::mtcars[, c("mpg", "hp")]))), "without the feature column\\(s\\) wt")
})
