fake_response <- function(status) structure(list(status_code = status, headers = list(), content = raw(0)), class = "response")
refused <- simpleError("Failed to connect to 127.0.0.1 port 5000 after 0 ms: Couldn't connect to server")
timed_out <- simpleError("Timeout was reached: [h] Operation timed out after 60001 milliseconds with 0 bytes received")

test_that("POSTs are retried only when nothing was sent; GETs also on 5xx, 429 and timeouts", {
  expect_true(mlflow_should_retry("POST", refused))
  expect_true(mlflow_should_retry("POST", simpleError("Could not resolve host: mlflow")))
  expect_false(mlflow_should_retry("POST", timed_out))
  expect_false(mlflow_should_retry("POST", fake_response(503L)))
  expect_false(mlflow_should_retry("POST", fake_response(429L)))
  expect_true(mlflow_should_retry("GET", timed_out))
  expect_true(mlflow_should_retry("GET", fake_response(503L)))
  expect_true(mlflow_should_retry("GET", fake_response(429L)))
  expect_false(mlflow_should_retry("GET", fake_response(404L)))
  expect_true(mlflow_should_retry("PUT", fake_response(500L)))
})

# A client whose transport replays `outcomes` and counts the calls.
scripted_client <- function(outcomes) {
  calls <- 0L
  transport <- function(method, url, ...) {
    calls <<- calls + 1L
    o <- outcomes[[min(calls, length(outcomes))]]
    if (inherits(o, "error")) stop(o)
    o
  }
  list(client = mlflow_client("http://mlflow", sleep = function(s) NULL, transport = transport),
       calls = function() calls)
}

test_that("a runs/create answered 503 or timing out is sent once; refused connections are retried", {
  s <- scripted_client(list(fake_response(503L)))
  expect_equal(httr::status_code(mlflow_http(s$client, "POST", "http://mlflow/x", body = list(a = 1))), 503L)
  expect_equal(s$calls(), 1L)
  s <- scripted_client(list(timed_out))
  expect_error(mlflow_http(s$client, "POST", "http://mlflow/x", body = list(a = 1)), class = "mlflow_error")
  expect_equal(s$calls(), 1L)
  s <- scripted_client(list(refused, refused, fake_response(200L)))
  expect_equal(httr::status_code(mlflow_http(s$client, "POST", "http://mlflow/x", body = list(a = 1))), 200L)
  expect_equal(s$calls(), 3L)
  s <- scripted_client(list(fake_response(502L), fake_response(200L)))
  expect_equal(httr::status_code(mlflow_http(s$client, "GET", "http://mlflow/x")), 200L)
  expect_equal(s$calls(), 2L)
  s <- scripted_client(list(fake_response(500L)))
  mlflow_http(s$client, "GET", "http://mlflow/x")
  expect_equal(s$calls(), 1L + s$client$call_retries)
})

test_that("the quality gate: direction, unknown metric and threshold are checked up front", {
  m <- list(accuracy = 0.95, oob_error = 0.05)
  expect_true(quality_gate_passes(m, "accuracy", 0.9))
  expect_false(quality_gate_passes(m, "accuracy", 0.96, "higher"))
  expect_true(quality_gate_passes(m, "oob_error", 0.1, "lower"))
  expect_false(quality_gate_passes(m, "oob_error", 0.01, "lower"))
  expect_error(check_quality_config(m, "acc", "higher", 0.9), "not one of the metrics training produces: accuracy, oob_error",
               class = "quality_config_error")
  expect_error(check_quality_config(m, "accuracy", "down", 0.9), "higher, lower", class = "quality_config_error")
  expect_error(check_quality_config(m, "accuracy", "higher", NaN), "finite", class = "quality_config_error")
})

test_that("train_with_mlflow refuses a bad gate before contacting MLflow", {
  s <- scripted_client(list(refused))
  trained <- list(metrics = list(accuracy = 1))
  expect_error(train_with_mlflow(s$client, list(metric = "f1", direction = "higher", threshold = 0.5), trained, tempdir(), "/health"),
               class = "quality_config_error")
  expect_equal(s$calls(), 0L)
})

test_that("tensor shapes beyond R's integers or the values given are bad requests, not errors", {
  proto <- input_spec(lapply(c("a", "b"), function(n) list(name = n, type = "numeric")))
  bad <- function(shape) {
    json <- sprintf('{"data":{"tensor":{"shape":%s,"values":[1,2]}}}', shape)
    tryCatch(decode_request(charToRaw(json), proto), bad_request = function(e) conditionMessage(e))
  }
  expect_match(bad("[3000000000,2]"), "\\[3000000000,2\\] needs 6000000000 values")
  expect_match(bad("[1e308,2]"), "needs Inf values|needs 2e\\+308 values")
  expect_match(bad("[2147483647,2]"), "needs 4294967294 values")
  expect_match(bad("[1,3000000000]"), "has 3000000000 features")
  expect_equal(nrow(decode_request(charToRaw('{"data":{"tensor":{"shape":[1,2],"values":[1,2]}}}'), proto)), 1L)
})

test_that("duplicate Content-Length values are refused, identical repeats accepted", {
  head <- function(...) charToRaw(paste(c("POST /predict HTTP/1.1", "Host: x", ...), collapse = "\r\n"))
  opts <- http_server_options()
  expect_equal(request_length(parse_head(head("Content-Length: 5", "Content-Length: 5")), opts), 5)
  expect_equal(request_length(parse_head(head("Content-Length: 5, 5")), opts), 5)
  err <- request_length(parse_head(head("Content-Length: 5", "content-length: 6")), opts)
  expect_s3_class(err, "http_error")
  expect_equal(err$code, 400L)
  expect_match(conditionMessage(err), "conflicting Content-Length values: 5, 6")
})

test_that("connections without a request head get a 408 after head_timeout; idle keep-alive ones are kept", {
  opts <- http_server_options(head_timeout = 10, idle_timeout = 120)
  now <- 1000
  silent <- new_connection(NULL, now - 11)
  kept <- new_connection(NULL, now - 60)
  kept$heads <- 1L
  kept$last_active <- now - 11
  expire_connections(list(silent, kept), opts, now, function(...) NULL)
  expect_true(silent$close_when_done)
  expect_match(rawToChar(silent$out), "^HTTP/1.1 408 ")
  expect_true(kept$open)
})

test_that("at the connection limit the longest idle connection is evicted, never one with a request under way", {
  busy <- new_connection(NULL, 1)
  busy$buf <- charToRaw("POST /pre")
  busy$request_started <- 1
  older <- new_connection(NULL, 2)
  newer <- new_connection(NULL, 3)
  older$heads <- newer$heads <- 1L # keep-alive connections between requests
  expect_true(evict_idle(list(busy, newer, older)))
  expect_false(older$open)
  expect_true(busy$open && newer$open)
  expect_false(evict_idle(list(busy)))
  # A connection that has not sent its first request is not idle: its request would be lost
  # unanswered (a burst of 300 new connections lost 68 that way).
  fresh <- new_connection(NULL, 0)
  expect_false(evict_idle(list(busy, fresh)))
  expect_true(fresh$open)
})
