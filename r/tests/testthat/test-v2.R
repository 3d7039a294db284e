# Open Inference Protocol v2: metadata, inference, errors.

v2_state <- function(model, example, predict_args = list(), name = NA_character_) {
  dir <- file.path(tempfile("v2-"), "model")
  write_bundle(model, dir, example, predict_args)
  state <- new_model_state(name)
  set_loaded_model(state, read_bundle(dir), list(name = "cars", version = "7", run_id = "r9"))
  state
}

v2_call <- function(state, method, path, body = "") {
  handle_safely(make_handler(state, test_contract$paths), list(method = method, path = path, body = charToRaw(body)))
}

mixed <- function() {
  d <- data.frame(wt = datasets::mtcars$wt, cyl = factor(datasets::mtcars$cyl), am = datasets::mtcars$am == 1,
                  mpg = datasets::mtcars$mpg)
  v2_state(stats::lm(mpg ~ wt + cyl + am, data = d), d[1:3, c("wt", "cyl", "am")])
}

test_that("health, model metadata with datatypes, model readiness", {
  s <- mixed()
  expect_equal(v2_call(s, "GET", "/v2/health/live")$status, 200L)
  expect_equal(v2_call(s, "GET", "/v2/health/ready")$status, 200L)
  expect_equal(v2_call(s, "GET", "/v2/models/cars/ready")$status, 200L)
  md <- jsonlite::parse_json(v2_call(s, "GET", "/v2/models/cars")$body)
  expect_equal(md$name, "cars")
  expect_equal(unlist(md$versions), "7")
  expect_equal(vapply(md$inputs, function(t) t$datatype, ""), c("FP64", "BYTES", "BOOL"))
  expect_equal(unlist(md$inputs[[2]]$parameters$levels), c("4", "6", "8"))
  expect_equal(md$outputs[[1]]$name, "prediction")
  expect_equal(md$outputs[[1]]$datatype, "FP64")
  nf <- v2_call(s, "GET", "/v2/models/other")
  expect_equal(nf$status, 404L)
  expect_match(jsonlite::parse_json(nf$body)$error, "unknown model 'other'")
  expect_equal(v2_call(s, "GET", "/v2/models/cars/versions/7")$status, 200L)
  expect_equal(v2_call(s, "GET", "/v2/models/cars/versions/8")$status, 404L)
  unloaded <- new_model_state("cars")
  expect_equal(v2_call(unloaded, "GET", "/v2/health/ready")$status, 400L)
  expect_equal(v2_call(unloaded, "GET", "/v2/models/cars/ready")$status, 400L)
  expect_equal(v2_call(unloaded, "POST", "/v2/models/cars/infer", "{}")$status, 503L)
})

test_that("inputs by name in any order, or by position; typed outputs; id echoed", {
  s <- mixed()
  want <- unname(stats::predict(s$bundle$model, data.frame(wt = c(2.5, 3), cyl = factor(c("6", "8"), levels = c("4", "6", "8")),
                                                          am = c(TRUE, FALSE))))
  by_name <- '{"id":"q1","inputs":[{"name":"am","datatype":"BOOL","shape":[2],"data":[true,false]},
    {"name":"cyl","datatype":"BYTES","shape":[2,1],"data":[["6"],["8"]]},{"name":"wt","datatype":"FP32","shape":[2],"data":[2.5,3]}]}'
  r <- v2_call(s, "POST", "/v2/models/cars/infer", by_name)
  expect_equal(r$status, 200L)
  out <- jsonlite::parse_json(r$body)
  expect_equal(out$model_name, "cars")
  expect_equal(out$model_version, "7")
  expect_equal(out$id, "q1")
  expect_equal(out$outputs[[1]]$name, "prediction")
  expect_equal(out$outputs[[1]]$datatype, "FP64")
  expect_equal(unlist(out$outputs[[1]]$shape), 2L)
  expect_equal(unlist(out$outputs[[1]]$data), want)
  by_pos <- '{"inputs":[{"name":"a","datatype":"FP64","shape":[2],"data":[2.5,3]},
    {"name":"b","datatype":"BYTES","shape":[2],"data":["6","8"]},{"name":"c","datatype":"BOOL","shape":[2],"data":[true,false]}]}'
  expect_equal(unlist(jsonlite::parse_json(v2_call(s, "POST", "/v2/models/cars/infer", by_pos)$body)$outputs[[1]]$data), want)
})

test_that("one [rows, features] tensor for an all-numeric model; class outputs are BYTES; outputs filter", {
  s <- v2_state(iris_rf(), datasets::iris[1:2, 1:4])
  r <- v2_call(s, "POST", "/v2/models/cars/infer",
               '{"inputs":[{"name":"x","datatype":"FP64","shape":[2,4],"data":[[5.1,3.5,1.4,0.2],[6.3,3.3,6.0,2.5]]}],"outputs":[{"name":"prediction"}]}')
  expect_equal(r$status, 200L)
  o <- jsonlite::parse_json(r$body)$outputs[[1]]
  expect_equal(o$datatype, "BYTES")
  expect_equal(unlist(o$data), c("setosa", "virginica"))
  p <- v2_state(iris_rf(), datasets::iris[1:2, 1:4], list(type = "prob"))
  r <- v2_call(p, "POST", "/v2/models/cars/infer",
               '{"inputs":[{"name":"x","datatype":"FP64","shape":[1,4],"data":[5.1,3.5,1.4,0.2]}],"outputs":[{"name":"setosa"}]}')
  outs <- jsonlite::parse_json(r$body)$outputs
  expect_equal(vapply(outs, function(o) o$name, ""), "setosa")
  expect_equal(outs[[1]]$datatype, "FP64")
})

test_that("client mistakes are 400 with {\"error\"}, never a 500", {
  s <- mixed()
  bad <- function(body, pattern) {
    r <- v2_call(s, "POST", "/v2/models/cars/infer", body)
    expect_equal(r$status, 400L, info = body)
    e <- jsonlite::parse_json(r$body)
    expect_named(e, "error")
    expect_match(e$error, pattern, info = body)
  }
  bad("", "empty body")
  bad("{", "malformed JSON")
  bad("[]", "expected an object")
  bad('{"inputs":[]}', "non-empty array")
  bad('{"inputs":[{"name":"wt","shape":[1],"data":[1]}]}', "no 'datatype'")
  bad('{"inputs":[{"name":"wt","datatype":"FP99","shape":[1],"data":[1]}]}', "expected one of BOOL")
  bad('{"inputs":[{"name":"wt","datatype":"FP64","shape":[2],"data":[1]}]}', "needs 2 values, but data has 1")
  bad('{"inputs":[{"name":"wt","datatype":"FP64","shape":[-1],"data":[1]}]}', "non-negative integers")
  bad('{"inputs":[{"name":"wt","datatype":"FP64","shape":[1],"data":[1]}]}', "1 input\\(s\\) given")
  three <- function(wt, cyl, am, names = c("wt", "cyl", "am")) {
    sprintf('{"inputs":[{"name":"%s",%s},{"name":"%s",%s},{"name":"%s",%s}]}', names[1], wt, names[2], cyl, names[3], am)
  }
  ok_wt <- '"datatype":"FP64","shape":[1],"data":[2.5]'
  ok_cyl <- '"datatype":"BYTES","shape":[1],"data":["6"]'
  ok_am <- '"datatype":"BOOL","shape":[1],"data":[true]'
  bad(three(ok_wt, ok_cyl, ok_am, c("wt", "cyl", "zz")), "unknown input name\\(s\\) zz")
  bad(three(ok_wt, '"datatype":"BYTES","shape":[1],"data":["5"]', ok_am), "not one of its levels")
  bad(three(ok_wt, '"datatype":"FP64","shape":[1],"data":[6]', ok_am), "is FP64 but feature 'cyl' is factor")
  bad(three('"datatype":"FP64","shape":[1],"data":["x"]', ok_cyl, ok_am), "JSON string")
  bad(three('"datatype":"INT8","shape":[1],"data":[300]', ok_cyl, ok_am), "not a INT8 value")
  bad(three('"datatype":"FP64","shape":[1],"data":[1e999]', ok_cyl, ok_am), "not finite")
  bad(three('"datatype":"FP64","shape":[2],"data":[1,2]', ok_cyl, ok_am), "same rows")
  bad(three(ok_wt, ok_cyl, '"datatype":"BOOL","shape":[1],"data":[1]', ), "JSON number")
  bad(paste0(substr(three(ok_wt, ok_cyl, ok_am), 1, nchar(three(ok_wt, ok_cyl, ok_am)) - 1), ',"outputs":[{"name":"nope"}]}'), "unknown output")
  bad('{"inputs":[{"name":"wt","datatype":"FP64","shape":[1],"data":[1]}],"inputs":[]}', "duplicate key")
})

test_that("the C reading of a [rows, features] FP tensor gives what the R reading gives, and leaves the rest to R", {
  spec <- input_spec(lapply(c("a", "b", "c"), function(n) list(name = n, type = "numeric")))
  fast <- function(text) .Call(C_rmlops_decode_v2, charToRaw(text), spec$feature_names)
  taken <- c(
    '{"inputs":[{"name":"x","datatype":"FP64","shape":[1,3],"data":[1,2.5,-3e2]}]}',
    '{"id":"r1","inputs":[{"data":[[1,2,3],[4,5,6]],"shape":[2,3],"datatype":"FP32","name":"a"}]}',
    ' { "inputs" : [ { "name" : "t" , "datatype" : "FP16" , "shape" : [ 2 , 3 ] , "data" : [ 1 , 2 , 3 , 4 , 5 , 6 ] } ] } ',
    '{"inputs":[{"name":"x","datatype":"FP64","shape":[1,3.0],"data":[-0,0.0,1E3]}],"id":""}'
  )
  for (text in taken) {
    got <- fast(text)
    expect_false(is.null(got), info = text)
    want <- decode_v2_strict(charToRaw(text), spec)
    expect_identical(got[[1L]], want$frame, info = text)
    expect_identical(got[[2L]], want$id, info = text)
  }
  left <- c(
    '{"inputs":[{"name":"x","datatype":"INT32","shape":[1,3],"data":[1,2,3]}]}',       # a range to check
    '{"inputs":[{"name":"x","datatype":"FP64","shape":[1,3],"data":[1,2]}]}',          # a count mismatch
    '{"inputs":[{"name":"x","datatype":"FP64","shape":[2,3],"data":[[1,2,3],4,5,6]}]}', # mixed nesting
    '{"inputs":[{"name":"x","datatype":"FP64","shape":[1,3],"data":[1,2,3],"parameters":{}}]}',
    '{"inputs":[{"name":"x","datatype":"FP64","shape":[1,3],"data":[1,2,3]}],"outputs":[{"name":"y"}]}',
    '{"inputs":[{"name":"x","datatype":"FP64","shape":[1,3],"data":[1,2,3]}],"id":"a","id":"b"}',
    '{"inputs":[{"name":"x","datatype":"FP64","shape":[0,3],"data":[]}]}',
    '{"inputs":[{"name":"x","datatype":"FP64","shape":[1,3],"data":[1,2,1e999]}]}',
    '{"inputs":[{"name":"x","datatype":"FP64","shape":[1,3],"data":[1,2,3]},{"name":"y"}]}',
    '{"inputs":[{"name":"x","datatype":"FP64","shape":[1,3],"data":[1,2,3]}]} x',
    '{"inputs":[{"name":"\\u00e9","datatype":"FP64","shape":[1,3],"data":[1,2,3]}]}',
    'x%n'
  )
  for (text in left) expect_null(fast(text), info = text)
  # Every prefix of a taken body, and every one-byte deletion, is either read the same as R
  # reads it or left to R: the C reading never accepts what R refuses.
  for (text in taken) {
    chars <- strsplit(text, "")[[1L]]
    variants <- c(vapply(seq_along(chars), function(i) paste(chars[-i], collapse = ""), ""),
                  vapply(seq_along(chars), function(i) substr(text, 1L, i - 1L), ""))
    for (v in variants) {
      got <- fast(v)
      if (is.null(got)) next
      want <- tryCatch(decode_v2_strict(charToRaw(v), spec), error = function(e) e)
      expect_false(inherits(want, "error"), info = v)
      if (!inherits(want, "error")) expect_identical(got[[1L]], want$frame, info = v)
    }
  }
})
