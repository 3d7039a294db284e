paths <- test_contract$paths

loaded_state <- function(bundle, info = list(name = "m", version = "3")) {
  state <- new_model_state()
  set_loaded_model(state, bundle, info)
  state
}

serve_request <- function(state, method, path, body = "") {
  handle_safely(make_handler(state, paths), list(method = method, path = path, body = charToRaw(body)))
}

written <- function(model, example, predict_args = list()) {
  dir <- file.path(tempfile("served-"), "model")
  write_bundle(model, dir, example, predict_args)
  read_bundle(dir)
}

test_that("a regression (lm) bundle loads into the server (it failed: 'attempt to set an attribute on NULL')", {
  b <- written(stats::lm(mpg ~ wt, data = datasets::mtcars), datasets::mtcars[1:2, "wt", drop = FALSE])
  state <- loaded_state(b)
  expect_false(is.null(state$bundle))
  md <- jsonlite::parse_json(serve_request(state, "GET", paths$metadata)$body)
  expect_equal(md$outputs[[1]]$schema$kind, "numeric")
  expect_equal(md$outputs[[1]]$schema$levels, list())
  res <- serve_request(state, "POST", paths$modelPredict, '{"data":{"ndarray":[[2.5],[3.5]]}}')
  expect_equal(res$status, 200L)
  out <- jsonlite::parse_json(res$body)
  expect_equal(unlist(out$data$names), "prediction")
  expect_equal(unlist(out$data$ndarray), unname(stats::predict(b$model, data.frame(wt = c(2.5, 3.5)))))
})

test_that("class probabilities answer one named column per class", {
  state <- loaded_state(written(iris_rf(), datasets::iris[1:2, 1:4], list(type = "prob")))
  res <- serve_request(state, "POST", paths$modelPredict, '{"data":{"ndarray":[[5.1,3.5,1.4,0.2],[6.3,3.3,6.0,2.5]]}}')
  out <- jsonlite::parse_json(res$body)
  expect_equal(unlist(out$data$names), c("setosa", "versicolor", "virginica"))
  expect_length(out$data$ndarray, 2L)
  expect_equal(vapply(out$data$ndarray, function(r) which.max(unlist(r)), 1L), c(1L, 3L))
  md <- jsonlite::parse_json(serve_request(state, "GET", paths$metadata)$body)
  expect_equal(unlist(md$outputs[[1]]$schema$names), c("setosa", "versicolor", "virginica"))
  # The executor reads custom as string -> string: nested values arrive as JSON text.
  expect_true(all(vapply(md$custom, is.character, NA)))
  expect_equal(jsonlite::fromJSON(md$custom$packages)$randomForest, as.character(utils::packageVersion("randomForest")))
})

test_that("a value not among a factor's levels is a 400 naming the column, the value and the levels", {
  d <- data.frame(wt = datasets::mtcars$wt, cyl = factor(datasets::mtcars$cyl), mpg = datasets::mtcars$mpg)
  state <- loaded_state(written(stats::lm(mpg ~ wt + cyl, data = d), d[1:3, c("wt", "cyl")]))
  res <- serve_request(state, "POST", paths$modelPredict, '{"data":{"names":["cyl","wt"],"ndarray":[["6",2.5],["5",3]]}}')
  expect_equal(res$status, 400L)
  s <- jsonlite::parse_json(res$body)$status
  expect_equal(s$status, "FAILURE")
  expect_equal(s$reason, "MICROSERVICE_BAD_DATA")
  expect_match(s$info, "row 2 column 1: value '5' of feature 'cyl' is not one of its levels: 4, 6, 8", fixed = TRUE)
  ok <- serve_request(state, "POST", paths$modelPredict, '{"data":{"names":["cyl","wt"],"ndarray":[["6",2.5]]}}')
  expect_equal(ok$status, 200L)
})

test_that("a corrupt bundle is never ready: the loader retries, readiness stays 503, then it gives up", {
  dir <- file.path(tempfile("corrupt-"), "model")
  write_bundle(stats::lm(dist ~ speed, data = datasets::cars), dir, datasets::cars[1:2, "speed", drop = FALSE])
  writeBin(as.raw(1:16), file.path(dir, "model.rds"))
  state <- new_model_state()
  gave_up <- NULL
  loader <- make_loader(state, function() list(bundle = read_bundle(dir), info = list(dir = dir)), wait_seconds = 2,
                        on_give_up = function(msg) gave_up <<- msg)
  deadline <- now_seconds() + 20
  logged <- character()
  while (is.null(gave_up) && now_seconds() < deadline) {
    logged <- c(logged, utils::capture.output(loader()))
    expect_equal(serve_request(state, "GET", paths$healthStatus)$status, 503L)
    expect_equal(serve_request(state, "GET", paths$healthPing)$status, 200L)
    Sys.sleep(0.1)
  }
  expect_null(state$bundle)
  expect_match(gave_up, "could not load the model after [0-9]+ attempts")
  expect_true(any(grepl("model not loaded yet.*does not match its checksum", logged)))
})

test_that("serve_model refuses the executor's ports and unsupported model URIs as configuration errors", {
  for (p in test_contract$executorPorts) {
    expect_error(serve_model("/mnt/models", port = p), sprintf("refusing to bind port %d", p), class = "config_error")
  }
  expect_error(serve_model("s3://bucket/model", port = 9999), "storage initializer", class = "config_error")
  expect_error(serve_model("", port = 9999), "no model URI", class = "config_error")
  expect_error(serve_model("/mnt/models", port = 70000), "invalid port", class = "config_error")
})

test_that("the port comes from Seldon's or Knative's variable; both set and different is a configuration error", {
  withr::local_envvar(PREDICTIVE_UNIT_HTTP_SERVICE_PORT = NA, PORT = NA)
  expect_equal(serving_port(test_contract), test_contract$modelHttpPort)
  withr::local_envvar(PORT = "8080")
  expect_equal(serving_port(test_contract), 8080)
  withr::local_envvar(PREDICTIVE_UNIT_HTTP_SERVICE_PORT = "8080")
  expect_equal(serving_port(test_contract), 8080)
  withr::local_envvar(PREDICTIVE_UNIT_HTTP_SERVICE_PORT = "9000")
  expect_error(serving_port(test_contract), "PREDICTIVE_UNIT_HTTP_SERVICE_PORT=9000 and PORT=8080 disagree", class = "config_error")
  withr::local_envvar(PREDICTIVE_UNIT_HTTP_SERVICE_PORT = NA, PORT = "eighty")
  expect_error(serving_port(test_contract), "PORT must be a number", class = "config_error")
})

test_that("STORAGE_URI: the directory KServe's webhook rewrote it to is the model; a remote URI left as written is a configuration error", {
  withr::local_envvar(STORAGE_URI = NA)
  expect_true(is.na(storage_uri_model(test_contract)))
  withr::local_envvar(STORAGE_URI = "/mnt/models")
  expect_equal(storage_uri_model(test_contract), "/mnt/models")
  expect_equal(test_contract$kserveModelMountPath, "/mnt/models")
  withr::local_envvar(STORAGE_URI = "s3://bucket/iris")
  expect_error(storage_uri_model(test_contract), "STORAGE_URI=s3://bucket/iris was not downloaded", class = "config_error")
})

test_that("serve_main exits 2 at once, with a JSON log line, when only a remote STORAGE_URI is given", {
  withr::local_envvar(MODEL_URI = NA, STORAGE_URI = "gs://bucket/iris")
  out <- capture.output(status <- serve_main(test_contract), type = "message")
  expect_equal(status, 2L)
  line <- jsonlite::fromJSON(out[length(out)])
  expect_equal(line$level, "error")
  expect_match(line$msg, "was not downloaded")
})
