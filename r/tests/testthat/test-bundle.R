new_dir <- function() file.path(tempfile("bundle-test-"), "model")

test_that("a randomForest classifier round-trips: features, class output, packages recorded", {
  dir <- new_dir()
  rf <- iris_rf()
  write_bundle(rf, dir, datasets::iris[c(1, 51, 101), 1:4], info = list(metrics = list(accuracy = 0.9), run_id = "r1"))
  expect_setequal(list.files(dir), bundle_files)
  b <- read_bundle(dir)
  expect_equal(b$feature_names, names(datasets::iris)[1:4])
  expect_equal(b$output$kind, "class")
  expect_equal(unlist(b$output$levels), levels(datasets::iris$Species))
  expect_equal(b$manifest$format_version, bundle_format_version())
  expect_equal(b$manifest$run_id, "r1")
  expect_equal(b$manifest$r_version, paste(R.version$major, R.version$minor, sep = "."))
  expect_equal(names(b$manifest$packages), "randomForest")
  expect_equal(b$manifest$packages$randomForest, as.character(utils::packageVersion("randomForest")))
  expect_equal(predict_bundle(b, datasets::iris[c(1, 51, 101), 1:4]), c("setosa", "versicolor", "virginica"))
  mlmodel <- readLines(file.path(dir, "MLmodel"))
  expect_true(any(grepl("^flavors:", mlmodel)))
  expect_true(any(grepl("^  inputs: .*Petal.Width", mlmodel)))
  expect_true(any(grepl("^    format_version: 1$", mlmodel)))
})

test_that("randomForest with predict_args type = 'prob' serves one named column per class", {
  dir <- new_dir()
  write_bundle(iris_rf(), dir, datasets::iris[c(1, 51), 1:4], predict_args = list(type = "prob"))
  b <- read_bundle(dir)
  expect_equal(b$output$kind, "probabilities")
  expect_equal(unlist(b$output$names), levels(datasets::iris$Species))
  expect_equal(b$predict_args, list(type = "prob"))
  p <- predict_bundle(b, datasets::iris[c(1, 101), 1:4])
  expect_equal(dim(p), c(2L, 3L))
  expect_equal(colnames(p), levels(datasets::iris$Species))
  expect_equal(unname(rowSums(p)), c(1, 1))
  body <- jsonlite::parse_json(encode_predictions(p, b$output$names, list()))
  expect_equal(unlist(body$data$names), levels(datasets::iris$Species))
  expect_length(body$data$ndarray, 2L)
  expect_length(body$data$ndarray[[1L]], 3L)
  expect_equal(body$data$ndarray[[1L]][[1L]], unname(p[1, "setosa"]))
})

test_that("a regression (lm) bundle predicts numbers and needs no package beyond R", {
  dir <- new_dir()
  fit <- stats::lm(mpg ~ wt + hp, data = datasets::mtcars)
  write_bundle(fit, dir, datasets::mtcars[1:3, c("wt", "hp")])
  b <- read_bundle(dir)
  expect_equal(b$output$kind, "numeric")
  expect_length(b$manifest$packages, 0L)
  new <- data.frame(wt = c(2.5, 3.5), hp = c(100, 200))
  expect_equal(predict_bundle(b, new), unname(stats::predict(fit, new)))
})

test_that("a glm with predict_args type = 'response' serves probabilities between 0 and 1", {
  dir <- new_dir()
  fit <- stats::glm(am ~ wt + hp, data = datasets::mtcars, family = stats::binomial)
  write_bundle(fit, dir, datasets::mtcars[1:2, c("wt", "hp")], predict_args = list(type = "response"))
  b <- read_bundle(dir)
  expect_equal(b$output$kind, "numeric")
  p <- predict_bundle(b, datasets::mtcars[1:5, c("wt", "hp")])
  expect_true(all(p > 0 & p < 1))
  expect_equal(p, unname(stats::predict(fit, datasets::mtcars[1:5, c("wt", "hp")], type = "response")))
})

test_that("a glm's class probabilities as a two-column data frame are served per class", {
  fit <- stats::glm(am ~ wt, data = datasets::mtcars, family = stats::binomial)
  model <- structure(list(fit = fit), class = "two_class_glm")
  registerS3method("predict", "two_class_glm", function(object, newdata, ...) {
    p <- stats::predict(object$fit, newdata, type = "response")
    data.frame(automatic = 1 - p, manual = p)
  })
  dir <- new_dir()
  write_bundle(model, dir, datasets::mtcars[1:2, "wt", drop = FALSE])
  b <- read_bundle(dir)
  expect_equal(b$output$kind, "probabilities")
  expect_equal(unlist(b$output$names), c("automatic", "manual"))
  expect_equal(unname(rowSums(predict_bundle(b, data.frame(wt = c(2, 4))))), c(1, 1))
})

test_that("every input type is recorded from the example and decoded from requests", {
  df <- data.frame(
    num = c(1.5, 2.5, 3.5), int = c(1L, 2L, 3L), flag = c(TRUE, FALSE, TRUE),
    colour = factor(c("red", "green", "red"), levels = c("green", "red", "blue")),
    label = c("a", "b", "c"), stringsAsFactors = FALSE
  )
  model <- structure(list(), class = "echo_types")
  registerS3method("predict", "echo_types", function(object, newdata, ...) {
    stopifnot(is.double(newdata$num), is.integer(newdata$int), is.logical(newdata$flag),
              is.factor(newdata$colour), identical(levels(newdata$colour), c("green", "red", "blue")),
              is.character(newdata$label))
    paste(newdata$num, newdata$int, newdata$flag, as.character(newdata$colour), newdata$label)
  })
  dir <- new_dir()
  write_bundle(model, dir, df)
  b <- read_bundle(dir)
  expect_equal(vapply(b$features, function(f) f$type, ""), c("numeric", "integer", "logical", "factor", "character"))
  expect_equal(unlist(b$features[[4]]$levels), c("green", "red", "blue"))
  spec <- input_spec(b$features)
  req <- '{"data":{"names":["label","num","int","flag","colour"],"ndarray":[["x",0.5,7,false,"blue"]]}}'
  nd <- decode_request(charToRaw(req), spec)
  expect_equal(predict_bundle(b, nd), "0.5 7 FALSE blue x")
  bad <- function(json) tryCatch(decode_request(charToRaw(json), spec), bad_request = function(e) conditionMessage(e))
  expect_match(bad('{"data":{"ndarray":[[1,2,true,"purple","x"]]}}'),
               "value 'purple' of feature 'colour' is not one of its levels: green, red, blue")
  expect_match(bad('{"data":{"ndarray":[[1,2.5,true,"red","x"]]}}'), "row 1 column 2 is 2.5: feature 'int' is integer")
  expect_match(bad('{"data":{"ndarray":[[1,2,"yes","red","x"]]}}'), "column 3 is a JSON string: feature 'flag' is logical, expected true or false")
  expect_match(bad('{"data":{"ndarray":[[1,2,true,"red",5]]}}'), "column 5 is a JSON number: feature 'label' is character")
  expect_match(bad('{"data":{"ndarray":[["1",2,true,"red","x"]]}}'), "column 1 is a JSON string: feature 'num' is numeric")
  expect_match(bad('{"data":{"ndarray":[[1,2,true,null,"x"]]}}'), "column 4 is a JSON null")
  expect_match(bad('{"data":{"tensor":{"shape":[1,5],"values":[1,2,3,4,5]}}}'), "carries numbers only.*'flag', 'colour', 'label'")
})

test_that("a character feature an lm turned into a factor accepts only the levels it was fitted with", {
  d <- data.frame(x = c(1, 2, 3, 4, 5, 6), g = c("a", "b", "c", "a", "b", "c"), y = c(1, 3, 2, 2, 4, 3), stringsAsFactors = FALSE)
  dir <- new_dir()
  write_bundle(stats::lm(y ~ x + g, data = d), dir, d[1:2, c("x", "g")])
  b <- read_bundle(dir)
  expect_equal(b$features[[2]]$type, "character")
  expect_equal(unlist(b$features[[2]]$levels), c("a", "b", "c"))
  spec <- input_spec(b$features)
  expect_length(predict_bundle(b, decode_request(charToRaw('{"data":{"ndarray":[[1,"c"]]}}'), spec)), 1L)
  err <- tryCatch(decode_request(charToRaw('{"data":{"ndarray":[[1,"z"]]}}'), spec), bad_request = function(e) e)
  expect_s3_class(err, "bad_request")
  expect_match(conditionMessage(err), "value 'z' of feature 'g' is not one of its levels: a, b, c")
})

test_that("a factor level the model was not fitted with is a 400, not predict()'s 500", {
  d <- data.frame(x = c(1, 2, 3, 4), g = factor(c("a", "b", "a", "b"), levels = c("a", "b", "c")), y = c(1, 2, 2, 3))
  dir <- new_dir()
  write_bundle(stats::lm(y ~ x + g, data = d), dir, d[1:2, c("x", "g")])
  b <- read_bundle(dir)
  expect_equal(unlist(b$features[[2]]$levels), c("a", "b", "c"))
  spec <- input_spec(b$features)
  err <- tryCatch(decode_request(charToRaw('{"data":{"ndarray":[[1,"c"]]}}'), spec), bad_request = function(e) e)
  expect_match(conditionMessage(err), "value 'c' of feature 'g' is not one of its levels: a, b$")
  expect_length(predict_bundle(b, decode_request(charToRaw('{"data":{"ndarray":[[1,"b"]]}}'), spec)), 1L)
})

test_that("integer features accept whole numbers from a tensor and refuse fractions", {
  spec <- input_spec(list(list(name = "a", type = "integer"), list(name = "b", type = "numeric")))
  df <- decode_request(charToRaw('{"data":{"tensor":{"shape":[2,2],"values":[1,0.5,2,1.5]}}}'), spec)
  expect_identical(df$a, c(1L, 2L))
  err <- tryCatch(decode_request(charToRaw('{"data":{"tensor":{"shape":[1,2],"values":[1.5,0.5]}}}'), spec),
                  bad_request = function(e) e)
  expect_s3_class(err, "bad_request")
  expect_match(conditionMessage(err), "feature 'a' is integer")
})

test_that("the packages a model needs are detected from its predict method and its contents", {
  expect_equal(model_packages(iris_rf()), "randomForest")
  expect_equal(model_packages(stats::lm(dist ~ speed, data = datasets::cars)), character())
  # A model of a base class holding an object whose class another package defines.
  wrapped <- structure(list(inner = iris_rf(5L)), class = "my_wrapper")
  expect_true("randomForest" %in% model_packages(wrapped))
  # A closure from a package namespace inside the model.
  holder <- list(f = jsonlite::toJSON)
  expect_true("jsonlite" %in% model_packages(holder))
  # A closure made inside a package function: its environment encloses the namespace.
  made_in_package <- local(function() NULL, envir = new.env(parent = asNamespace("jsonlite")))
  expect_true("jsonlite" %in% model_packages(list(f = made_in_package)))
  # A closure made at top level refers to no package.
  expect_equal(model_packages(list(f = function() NULL)), character())
})

test_that("example, predict_args and model are checked before anything is written", {
  dir <- new_dir()
  fit <- stats::lm(dist ~ speed, data = datasets::cars)
  expect_error(write_bundle(fit, dir, list(speed = 1)), class = "bundle_input_error")
  expect_error(write_bundle(fit, dir, datasets::cars[0, "speed", drop = FALSE]), class = "config_error")
  expect_error(write_bundle(fit, dir, data.frame(speed = NA_real_)), "missing values", class = "bundle_input_error")
  expect_error(write_bundle(fit, dir, data.frame(speed = Sys.Date())), "supported feature types", class = "bundle_input_error")
  expect_error(write_bundle(fit, dir, datasets::cars[1, "speed", drop = FALSE], predict_args = list(function() 1)),
               "named list", class = "bundle_input_error")
  expect_error(write_bundle(fit, dir, data.frame(wrong = 1)), "predict\\(\\) on the example rows failed", class = "bundle_input_error")
  expect_error(write_bundle(structure(list(), class = "no_predict_here"), dir, data.frame(x = 1)), "no predict method",
               class = "config_error")
  expect_false(dir.exists(dir))
})

# A valid bundle to damage.
lm_bundle <- function() {
  dir <- new_dir()
  write_bundle(stats::lm(dist ~ speed, data = datasets::cars), dir, datasets::cars[1:2, "speed", drop = FALSE])
  dir
}

edit_manifest <- function(dir, fn) {
  path <- file.path(dir, "bundle.json")
  m <- jsonlite::read_json(path, simplifyVector = FALSE)
  writeLines(jsonlite::toJSON(fn(m), auto_unbox = TRUE, null = "null", digits = NA), path)
}

test_that("a corrupt bundle is a bundle_corrupt_error naming what is wrong", {
  dir <- lm_bundle()
  con <- file(file.path(dir, "model.rds"), "r+b")
  seek(con, 100, rw = "write")
  writeBin(as.raw(c(1, 2, 3, 4)), con)
  close(con)
  expect_error(read_bundle(dir), "does not match its checksum", class = "bundle_corrupt_error")

  dir <- lm_bundle()
  writeBin(readBin(file.path(dir, "model.rds"), "raw", 200), file.path(dir, "model.rds"))
  expect_error(read_bundle(dir), "corrupt or incomplete", class = "bundle_corrupt_error")

  dir <- lm_bundle()
  writeLines("{\"format\": ", file.path(dir, "bundle.json"))
  expect_error(read_bundle(dir), "not valid JSON", class = "bundle_corrupt_error")

  dir <- lm_bundle()
  unlink(file.path(dir, "model.rds"))
  expect_error(read_bundle(dir), "model.rds is missing", class = "bundle_corrupt_error")

  dir <- lm_bundle()
  unlink(file.path(dir, "bundle.json"))
  expect_error(read_bundle(dir), "bundle.json is missing", class = "bundle_error")

  dir <- lm_bundle()
  edit_manifest(dir, function(m) { m$features <- list(); m })
  expect_error(read_bundle(dir), "no features", class = "bundle_corrupt_error")

  # The model file is intact but is not what the manifest describes: it cannot predict the example.
  dir <- lm_bundle()
  edit_manifest(dir, function(m) { m$output$kind <- "class"; m })
  expect_error(read_bundle(dir), "cannot predict its own example rows", class = "bundle_corrupt_error")

  expect_error(read_bundle(tempfile("nowhere-")), "does not exist", class = "bundle_corrupt_error")
})

test_that("a bundle of another format version is a bundle_version_error", {
  dir <- lm_bundle()
  edit_manifest(dir, function(m) { m$format_version <- 2L; m })
  expect_error(read_bundle(dir), "format version 2: this server reads format version 1 only", class = "bundle_version_error")
  edit_manifest(dir, function(m) { m$format_version <- NULL; m })
  expect_error(read_bundle(dir), class = "bundle_version_error")
  # The unversioned layout written before format version 1.
  old <- new_dir()
  dir.create(old, recursive = TRUE)
  for (f in c("model.rds", "prototype.json", "metadata.json", "MLmodel")) writeLines("{}", file.path(old, f))
  expect_error(read_bundle(old), "unversioned format", class = "bundle_version_error")
})

test_that("a bundle needing a package that is not installed is a bundle_package_error", {
  dir <- lm_bundle()
  edit_manifest(dir, function(m) { m$packages <- list(notAnInstalledPackage = "1.0"); m })
  expect_error(read_bundle(dir), "needs the R package notAnInstalledPackage \\(version 1.0", class = "bundle_package_error")
})
