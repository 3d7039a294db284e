cars_lm <- function() stats::lm(dist ~ speed, data = datasets::cars)
cars_example <- datasets::cars[1:2, "speed", drop = FALSE]

test_that("an unwritable folder (a path component is a file) is a config error and nothing is written", {
  root <- tempfile("unwritable-")
  dir.create(root)
  writeLines("not a folder", file.path(root, "file"))
  err <- tryCatch(write_bundle(cars_lm(), file.path(root, "file", "sub", "model"), cars_example), error = function(e) e)
  expect_s3_class(err, "bundle_dir_error")
  expect_s3_class(err, "config_error")
  expect_match(conditionMessage(err), "cannot create the folder")
  expect_equal(leftovers(root), "file")
})

test_that("a read-only folder (a read-only tmpfs) is a config error and nothing is written", {
  dir <- mount_tmpfs("ro,size=64k")
  skip_if(is.na(dir), "cannot mount a tmpfs here (needs root)")
  withr::defer(unmount(dir))
  err <- tryCatch(write_bundle(cars_lm(), file.path(dir, "model"), cars_example), error = function(e) e)
  expect_s3_class(err, "bundle_dir_error")
  expect_s3_class(err, "config_error")
  expect_equal(leftovers(dir), character())
})

test_that("a full disk (a real 64 KiB tmpfs, filled) is a retryable error and no partial bundle is left", {
  dir <- full_tmpfs()
  skip_if(is.na(dir), "cannot mount a tmpfs here (needs root)")
  withr::defer(unmount(dir))
  err <- tryCatch(write_bundle(iris_rf(50L), file.path(dir, "model"), datasets::iris[1:2, 1:4]), error = function(e) e)
  expect_s3_class(err, "bundle_io_error")
  expect_s3_class(err, "retryable_error")
  expect_false(inherits(err, "config_error"))
  expect_equal(leftovers(dir, "filler"), character())
})

test_that("a full disk at the write function (/dev/full, a real ENOSPC) is a retryable bundle_io_error", {
  skip_if_not(file.exists("/dev/full"))
  err <- tryCatch(write_bytes_checked("/dev/full", as.raw(seq_len(200) %% 256)), error = function(e) e)
  expect_s3_class(err, "bundle_io_error")
  expect_s3_class(err, "retryable_error")
  expect_match(conditionMessage(err), "No space left on device|problem writing")
})

test_that("a write failure injected at the write function of the second file leaves no partial bundle and keeps the previous one", {
  root <- tempfile("injected-")
  dir <- file.path(root, "model")
  write_bundle(cars_lm(), dir, cars_example)
  before <- tools::md5sum(file.path(dir, bundle_files))
  files <- list(model.rds = as.raw(1:10), bundle.json = charToRaw("{}"), MLmodel = charToRaw("x"))
  injected <- function(path, bytes) {
    if (basename(path) == "bundle.json") stop(bundle_io_error(paste("injected: writing", path, "failed: No space left on device")))
    write_bytes_checked(path, bytes)
  }
  expect_error(write_dir_atomically(dir, files, write = injected), "injected", class = "bundle_io_error")
  expect_equal(leftovers(root), "model")
  expect_equal(tools::md5sum(file.path(dir, bundle_files)), before)
})

test_that("an existing bundle is replaced whole and no temporary folder is left", {
  root <- tempfile("replace-")
  dir <- file.path(root, "model")
  write_bundle(cars_lm(), dir, cars_example)
  write_bundle(stats::lm(dist ~ poly(speed, 2), data = datasets::cars), dir, cars_example)
  expect_equal(leftovers(root), "model")
  expect_setequal(list.files(dir), bundle_files)
  expect_match(paste(read_bundle(dir)$manifest$model$class, collapse = ""), "lm")
  expect_equal(length(stats::coef(read_bundle(dir)$model)), 3L)
})
