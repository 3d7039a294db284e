test_that("a trained iris bundle round-trips and predicts its own rows", {
  trained <- train_iris(ntree = 20L)
  dir <- tempfile("bundle-")
  write_bundle(dir, trained$model, trained$prototype, bundle_metadata(trained, run_id = "r1"))
  expect_true(all(file.exists(file.path(dir, bundle_files))))
  b <- read_bundle(dir)
  expect_equal(b$prototype$feature_names, names(datasets::iris)[1:4])
  expect_equal(unlist(b$prototype$output$levels), levels(datasets::iris$Species))
  expect_equal(b$metadata$run_id, "r1")
  expect_equal(b$metadata$r_version, paste(R.version$major, R.version$minor, sep = "."))
  expect_true("randomForest" %in% names(b$metadata$packages))
  pred <- predict_bundle(b, datasets::iris[c(1, 51, 101), 1:4])
  expect_equal(pred, c("setosa", "versicolor", "virginica"))
  mlmodel <- readLines(file.path(dir, "MLmodel"))
  expect_true(any(grepl("^flavors:", mlmodel)))
  expect_true(any(grepl("^run_id: \"r1\"", mlmodel)))
  expect_true(any(grepl("^  inputs: .*Petal.Width", mlmodel)))
})

test_that("the bundle serves any model with a predict method, e.g. lm", {
  df <- data.frame(x = c(1, 2, 3, 4), y = c(2, 4, 6, 8))
  dir <- tempfile("bundle-")
  write_bundle(dir, stats::lm(y ~ x, df), make_prototype(df["x"], df$y),
               list(run_id = NULL, created_utc = "t", r_version = "4", packages = list()))
  b <- read_bundle(dir)
  expect_equal(predict_bundle(b, data.frame(x = 5)), 10, tolerance = 1e-9)
})

test_that("an incomplete bundle or a model without predict is refused", {
  dir <- tempfile("bundle-")
  dir.create(dir)
  expect_error(read_bundle(dir), "missing model.rds")
  write_bundle(dir, structure(list(), class = "no_predict_here"), make_prototype(data.frame(x = 1), 1),
               list(created_utc = "t", r_version = "4", packages = list()))
  expect_error(read_bundle(dir), "no predict method")
})

test_that("holdout metrics are computed from the confusion matrix", {
  m <- classification_metrics(c("a", "a", "b", "b"), c("a", "b", "b", "b"))
  expect_equal(m$accuracy, 0.75)
  expect_equal(m$precision_b, 2 / 3)
  expect_equal(m$recall_a, 0.5)
  expect_equal(m$kappa, 0.5)
  expect_true(quality_gate_passes(m, "accuracy", 0.7))
  expect_false(quality_gate_passes(m, "accuracy", 0.8))
  expect_error(quality_gate_passes(m, "auc", 0.5), "not one of")
})

test_that("the stratified split keeps every class in the holdout", {
  test <- stratified_split(datasets::iris$Species, 0.3, 1L)
  expect_equal(as.vector(table(datasets::iris$Species[test])), c(15L, 15L, 15L))
})
