# HTTP/1.1 message rules of RFC 9110/9112 as the server applies them, without sockets.

head_of <- function(...) charToRaw(paste(c(...), collapse = "\r\n"))

test_that("request targets: origin-form and absolute-form are served, other forms are 400", {
  r <- parse_head(head_of("GET /health/ping?x=1 HTTP/1.1", "Host: a"))
  expect_equal(r$path, "/health/ping")
  expect_equal(r$query, "x=1")
  r <- parse_head(head_of("GET http://a:9000/metadata HTTP/1.1", "Host: a:9000"))
  expect_equal(r$path, "/metadata")
  expect_equal(parse_head(head_of("OPTIONS * HTTP/1.1", "Host: a"))$path, "*")
  for (target in c("*", "a:80", "metadata", "/x#frag")) {
    e <- parse_head(head_of(sprintf("GET %s HTTP/1.1", target), "Host: a"))
    expect_s3_class(e, "http_error")
    expect_equal(e$code, 400L)
  }
})

test_that("Host: exactly one in HTTP/1.1, optional in HTTP/1.0, syntax checked", {
  expect_equal(parse_head(head_of("GET / HTTP/1.1"))$code, 400L)
  expect_match(conditionMessage(parse_head(head_of("GET / HTTP/1.1"))), "missing Host")
  expect_equal(parse_head(head_of("GET / HTTP/1.1", "Host: a", "Host: b"))$code, 400L)
  expect_equal(parse_head(head_of("GET / HTTP/1.1", "Host: a b"))$code, 400L)
  expect_equal(parse_head(head_of("GET / HTTP/1.0"))$path, "/")
  expect_equal(parse_head(head_of("GET / HTTP/1.1", "Host: [::1]:9000"))$path, "/")
  expect_equal(parse_head(head_of("GET / HTTP/1.1", "Host:"))$path, "/")
})

test_that("request line, version, header syntax", {
  expect_equal(parse_head(head_of("GET / HTTP/2.0", "Host: a"))$code, 505L)
  expect_equal(parse_head(head_of("GET / HTTP/1.2", "Host: a"))$minor, 2L)
  expect_equal(parse_head(head_of("GET  / HTTP/1.1", "Host: a"))$code, 400L)
  expect_equal(parse_head(head_of("GET / HTTP/1.1", "Host: a", "X-A : b"))$code, 400L)
  expect_equal(parse_head(head_of("GET / HTTP/1.1", "Host: a", "X-A: b", " folded"))$code, 400L)
  expect_equal(parse_head(head_of("GET / HTTP/1.1", "Host: a", "X-A: b\rc"))$code, 400L)
  expect_equal(parse_head(head_of("", "GET / HTTP/1.1", "Host: a"))$path, "/")
  expect_equal(parse_head(head_of("get / HTTP/1.1", "Host: a"))$method, "get")
})

test_that("Content-Length syntax and framing conflicts", {
  opts <- http_server_options()
  len <- function(...) request_length(parse_head(head_of("POST /predict HTTP/1.1", "Host: a", ...)), opts)
  expect_equal(len("Content-Length: 12"), 12)
  for (bad in c("Content-Length: -1", "Content-Length: 1.5", "Content-Length: +3", "Content-Length: 0x10",
                "Content-Length: 1 2")) {
    expect_equal(len(bad)$code, 400L)
  }
  expect_equal(len("Content-Length: 3", "Transfer-Encoding: chunked")$code, 400L)
  expect_equal(len("Transfer-Encoding: chunked"), -1)
  expect_equal(len("Transfer-Encoding: gzip, chunked")$code, 501L)
  expect_equal(len()$code, 411L)
})

test_that("HEAD answers the GET headers with Content-Length but no body; responses carry Date", {
  r <- rawToChar(format_response(200L, "hello", head_only = TRUE))
  expect_match(r, "Content-Length: 5\r\n")
  expect_true(endsWith(r, "\r\n\r\n"))
  expect_match(r, "\r\nDate: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT\r\n")
})

test_that("methods: 405 with Allow on a known route (an unknown method too: a client's mistake is never a 5xx), OPTIONS lists Allow", {
  state <- new_model_state()
  h <- make_handler(state, test_contract$paths)
  req <- function(method, path) handle_safely(h, list(method = method, path = path, body = raw(0)))
  r <- req("DELETE", "/predict")
  expect_equal(r$status, 405L)
  expect_equal(r$headers[["Allow"]], "POST, OPTIONS")
  r <- req("POST", "/health/ping")
  expect_equal(r$headers[["Allow"]], "GET, HEAD, OPTIONS")
  expect_equal(req("BREW", "/predict")$status, 405L)
  expect_equal(req("QUERY", "/v2/health/live")$headers[["Allow"]], "GET, HEAD, OPTIONS")
  expect_equal(req("BREW", "/nope")$status, 404L)
  expect_equal(req("OPTIONS", "/v2/models/m/infer")$headers[["Allow"]], "POST, OPTIONS")
  expect_equal(req("OPTIONS", "*")$status, 200L)
  expect_equal(req("PUT", "/nope")$status, 404L)
  r <- req("DELETE", "/v2/health/live")
  expect_equal(r$status, 405L)
  expect_named(jsonlite::parse_json(r$body), "error")
})

test_that("metadata custom is a flat map of strings (the executor's ModelMetadata.custom)", {
  x <- flat_custom(list(a = "x", b = list(c = 1), d = 2L, e = NULL))
  expect_equal(x, list(a = "x", b = '{"c":1}', d = "2", e = ""))
})

test_that("metrics: counters by route and code, a cumulative histogram, labels escaped", {
  m <- new_metrics()
  record_request(m, "/predict", 200L, 0.0007)
  record_request(m, "/predict", 200L, 0.003)
  record_request(m, "/predict", 400L, 0.0001)
  snap <- merge_snapshots(list(metrics_snapshot(m), metrics_snapshot(m)))
  text <- render_prometheus(snap, list(load_seconds = 1.5, ready = TRUE, workers = 2, running = 2, restarts = 0,
                                       info = list(name = 'a"b', version = "3", run_id = "r1")))
  expect_match(text, 'rmlops_requests_total{route="/predict",code="200"} 4', fixed = TRUE)
  expect_match(text, 'rmlops_request_duration_seconds_bucket{route="/predict",le="0.001"} 4', fixed = TRUE)
  expect_match(text, 'rmlops_request_duration_seconds_bucket{route="/predict",le="+Inf"} 6', fixed = TRUE)
  expect_match(text, 'rmlops_request_duration_seconds_count{route="/predict"} 6', fixed = TRUE)
  expect_match(text, 'rmlops_model_info{model_name="a\\"b",model_version="3",run_id="r1"} 1', fixed = TRUE)
  expect_match(text, "rmlops_model_load_seconds 1.5\n", fixed = TRUE)
  table <- route_table(test_contract$paths)
  expect_equal(route_label("/v2/models/anything/infer", table), "/v2/models/{model}/infer")
  expect_equal(route_label(test_contract$paths$modelPredict, table), "/predict")
  expect_equal(route_label("/etc/passwd", table), "other")
})

test_that("answers are RFC 8259 JSON written by hand: escapes, no NaN or Infinity, 15 significant digits", {
  x <- encode_predictions(c('a"b', "c\\d", "e\001f", NA), "prediction", '{"tags":{}}')
  expect_equal(unlist(jsonlite::parse_json(x)$data$ndarray, use.names = FALSE)[1:3], c('a"b', "c\\d", "e\001f"))
  n <- encode_predictions(c(1 / 3, NaN, Inf, -Inf, 2L), "y", '{"tags":{}}')
  expect_match(n, '"ndarray":[0.333333333333333,null,null,null,2]', fixed = TRUE)
  m <- matrix(c(0.25, 0.75, 1, 0), nrow = 2, dimnames = list(NULL, c("a", "b")))
  expect_equal(jsonlite::parse_json(encode_predictions(m, c("a", "b"), '{}'), simplifyVector = TRUE)$data$ndarray, unname(m))
  expect_equal(json_values(c(TRUE, NA, FALSE)), c("true", "null", "false"))
})

test_that("chunked bodies (RFC 9112 7.1): sizes in hex, extensions and trailers ignored, limits kept", {
  raw_of <- function(x) charToRaw(x)
  r <- read_chunked(raw_of("5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-T: 1\r\n\r\nNEXT"), 1L, 100)
  expect_equal(rawToChar(r$body), "hello, world!!!")
  expect_equal(r$consumed, nchar("5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-T: 1\r\n\r\n"))
  expect_true(is.na(read_chunked(raw_of("5\r\nhel"), 1L, 100)$consumed))
  expect_true(is.na(read_chunked(raw_of("5\r\nhello\r\n0\r\n"), 1L, 100)$consumed))
  expect_equal(read_chunked(raw_of("zz\r\nhello\r\n0\r\n\r\n"), 1L, 100)$code, 400L)
  expect_equal(read_chunked(raw_of("5\r\nhelloXX0\r\n\r\n"), 1L, 100)$code, 400L)
  expect_equal(read_chunked(raw_of("FF\r\n"), 1L, 100)$code, 413L)
  expect_equal(rawToChar(read_chunked(raw_of("0\r\n\r\n"), 1L, 100)$body), "")
})
