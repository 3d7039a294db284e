# The C fast paths (src/http.c) against the R code they stand in for: the same result whenever
# they answer, NULL (so the R code answers) otherwise.

head_of <- function(...) charToRaw(paste(c(...), collapse = "\r\n"))

test_that("the C head parser gives parse_head_r()'s result or leaves the head to it", {
  heads <- list(
    head_of("GET /health/ping?x=1 HTTP/1.1", "Host: a"),
    head_of("POST /predict HTTP/1.1", "Host: 127.0.0.1:9000", "Content-Type: application/json",
            "Content-Length: 12", "X-Pad:  a b \t"),
    head_of("POST /predict HTTP/1.1", "Host: [::1]:9000", "content-length: 5", "Transfer-Encoding: chunked",
            "transfer-encoding: gzip"),
    head_of("GET / HTTP/1.0"), head_of("GET / HTTP/1.0", "Connection: keep-alive"), head_of("GET / HTTP/1.1", "Host:"),
    head_of("get /x%20?a=b?c HTTP/1.1", "HOST: a:", "A-B: \t", "Connection: close"),
    head_of("GET / HTTP/1.1", "Host: a", "Content-Length: 5, 5"),
    head_of("GET / HTTP/1.1", "Host: a", "Content-Length: 5", "content-length: 6"),
    head_of("GET / HTTP/1.1", "Host: a", "Content-Length:"), head_of("GET / HTTP/1.1 ", "Host: a"),
    head_of("GET / HTTP/1.1", "Host: a", "X: \x7f"), head_of("GET / HTTP/1.1", "Host: a b"),
    head_of("GET / HTTP/1.1", "Host: a", "Host: b"), head_of("GET / HTTP/1.0", "Host: a"),
    head_of("GET http://a/b HTTP/1.1", "Host: a"), head_of("OPTIONS * HTTP/1.1", "Host: a"),
    head_of("", "GET / HTTP/1.1", "Host: a"), head_of("GET  / HTTP/1.1", "Host: a"),
    head_of("GET / HTTP/1.1", "Host: a", " folded"), head_of("GET / HTTP/1.1", "Host: a", "X-A : b"),
    head_of("GET / HTTP/1.1", "Host: a", "X: a\rb"), head_of("GET /#f HTTP/1.1", "Host: a"),
    head_of("GET / HTTP/2.0", "Host: a"), head_of("GET / HTTP/1.2", "Host: a"),
    head_of("GET / HTTP/1.1", "Host: a", "X: caf\u00e9"), c(head_of("GET / HTTP/1.1", "Host: a"), as.raw(0L)),
    head_of("GET / HTTP/1.1", "Host: [::1", "X: y"), head_of("GET / HTTP/1.1", "Host: a:80x"),
    head_of(c("GET / HTTP/1.1", "Host: a", sprintf("X-%d: %d", 1:70, 1:70)))
  )
  fast_count <- 0L
  for (h in heads) {
    fast <- .Call(C_rmlops_parse_head, h, length(h))
    if (!is.null(fast)) {
      fast_count <- fast_count + 1L
      expect_identical(fast, parse_head_r(h), label = rawToChar(h[h != as.raw(0L)]))
    }
    expect_identical(parse_head(h), parse_head_r(h))
  }
  expect_gte(fast_count, 6L)
  # Only the first `len` bytes are the head (the server passes its whole buffer).
  buf <- c(head_of("GET /a HTTP/1.1", "Host: a"), charToRaw("\r\n\r\nbody"))
  expect_identical(.Call(C_rmlops_parse_head, buf, length(buf) - 8L), parse_head_r(head_of("GET /a HTTP/1.1", "Host: a")))
  expect_equal(.Call(C_rmlops_head_end, buf), grepRaw(charToRaw("\r\n\r\n"), buf, fixed = TRUE))
  expect_equal(.Call(C_rmlops_head_end, charToRaw("GET / HTTP/1.1\r\n\r")), 0L)
})

numeric_spec <- function(names) input_spec(lapply(names, function(n) list(name = n, type = "numeric")))

test_that("the C decoder builds decode_strict()'s data frame or leaves the body to it", {
  spec <- numeric_spec(c("a", "b"))
  bodies <- c(
    '{"data":{"ndarray":[[1,2]]}}', '{"data":{"names":["b","a"],"ndarray":[[1,2],[3.5,-0]]}}',
    ' {\n "data" : { "ndarray" : [ [ 1e3 , 2E-2 ] ] ,\t"names" : [ "a" , "b" ] } }\r\n',
    '{"data":{"ndarray":[[1,-0.0]]}}', '{"data":{"ndarray":[[123456789012345678,2]]}}',
    '{"data":{"ndarray":[[1.5,2.25]],"names":["a","b"]}}', '{"data":{"ndarray":[[1,2,]]}}',
    '{"data":{"ndarray":[[01,2]]}}', '{"data":{"ndarray":[[1,2]],}}', '{"data":{"ndarray":[[NaN,2]]}}',
    '{"data":{"ndarray":[[1e400,2]]}}', '{"data":{"ndarray":[[1e-400,2]]}}', '{"data":{"ndarray":[[1,2]]},"data":{}}',
    '{"data":{"names":["a","a"],"ndarray":[[1,2]]}}', '{"data":{"names":["a","c"],"ndarray":[[1,2]]}}',
    '{"data":{"names":["a"],"ndarray":[[1,2]]}}', '{"data":{"names":["a","b","c"],"ndarray":[[1,2]]}}',
    '{"data":{"ndarray":[[1,2]]},"meta":{}}', '{"data":{"ndarray":[[1,2]],"tensor":{}}}', '{"data":{"ndarray":[]}}',
    '{"data":{"ndarray":[[1,2]]}} x', '{"data":{"ndarray":[[true,2]]}}', '{"data":{"ndarray":[[1,2],[3]]}}',
    '{"data":{"ndarray":[[1,2],[3,4,5]]}}', '[]', '{}', '{"data":{}}', '{"data":[]}', '{"data":{"ndarray":[[1,2]],"ndarray":[[1,2]]}}',
    '{"data":{"ndarray":[[1,"2"]]}}', '{"data":{"ndarray":[[1,null]]}}', '{"data":{"ndarray":[[1,[2]]]}}',
    '{"data":{"names":["a","b"],"names":["a","b"],"ndarray":[[1,2]]}}', '{"data":{"ndarray":[[1,2]]},"strData":"x"}',
    '{"data":{"ndarray":[[-,2]]}}', '{"data":{"ndarray":[[1.,2]]}}', '{"data":{"ndarray":[[.5,2]]}}',
    '{"data":{"ndarray":[[+1,2]]}}', '{"data":{"ndarray":[[1e,2]]}}', '{"data":{"ndarray":[[0x1,2]]}}',
    '{"data":{"ndarray":[[Infinity,2]]}}', '{"data":{"names":["\\u0061","b"],"ndarray":[[1,2]]}}',
    '{"d\\u0061ta":{"ndarray":[[1,2]]}}', '{"data":{"ndarray":[[1,2]]}', '{"data":{"ndarray":[[1,2]]}}}',
    '{"data":{"ndarray":[[1\v,2]]}}', '{"data":{"ndarray":[[1,2]]}}\u00a0', '{"data":{"ndarray":[{"a":1,"b":2}]}}',
    '{"meta":{"puid":"x","tags":{"a":[1,2.5e-3,true,false,null,{}],"b":[]}},"data":{"ndarray":[[1,2]]}}',
    '{"data":{"ndarray":[[1,2]]},"meta":{},"other":"x"}', '{"data":{"ndarray":[[1,2]]},"meta":{"a":01}}',
    '{"data":{"ndarray":[[1,2]]},"meta":{"a":1,"a":2}}', '{"meta":1,"meta":2,"data":{"ndarray":[[1,2]]}}',
    '{"jsonData":null,"data":{"ndarray":[[1,2]]}}', '{"binData":"eA==","data":{"ndarray":[[1,2]]}}',
    '{"meta":{"a":"[[[[[[[[[[[[[[[[["},"data":{"ndarray":[[1,2]]}}', '{"meta":[tru],"data":{"ndarray":[[1,2]]}}',
    paste0('{"meta":', strrep("[", 14), strrep("]", 14), ',"data":{"ndarray":[[1,2]]}}'),
    paste0('{"meta":', strrep("[", 15), strrep("]", 15), ',"data":{"ndarray":[[1,2]]}}'),
    '{"meta":{"a":"caf\u00e9"},"data":{"ndarray":[[1,2]]}}', '{"meta":"\\n","data":{"ndarray":[[1,2]]}}',
    '{"meta":{}}', '{"meta":{},"data":{"ndarray":[[1,2]]},"data":{"ndarray":[[1,2]]}}'
  )
  fast_count <- 0L
  for (b in bodies) {
    body <- charToRaw(enc2utf8(b))
    fast <- .Call(C_rmlops_decode_seldon, body, spec$feature_names)
    strict <- tryCatch(decode_strict(body, spec), error = function(e) e)
    if (!is.null(fast)) {
      fast_count <- fast_count + 1L
      expect_identical(fast, strict, label = b)
    }
    # Through decode_request, every error is the strict path's (a 400, never a 500).
    got <- tryCatch(decode_request(body, spec), error = function(e) e)
    if (inherits(strict, "error")) {
      expect_s3_class(got, "bad_request")
      expect_identical(conditionMessage(got), conditionMessage(strict))
    } else {
      expect_identical(got, strict)
    }
  }
  expect_gte(fast_count, 6L)
  expect_null(.Call(C_rmlops_decode_seldon, raw(0), spec$feature_names))
  expect_null(.Call(C_rmlops_decode_seldon, as.raw(c(0x7b, 0x00, 0x7d)), spec$feature_names))
})

test_that("the C decoder reads random batches exactly as jsonlite does", {
  set.seed(42)
  spec <- numeric_spec(c("Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width"))
  for (i in 1:40) {
    n <- sample(c(1L, 3L, 50L, 400L), 1L)
    x <- c(runif(n * 4, -1e3, 1e3), rnorm(n * 4) * 10^sample(-200:200, n * 4, TRUE), sample(-1e9:1e9, n * 4))
    x <- sample(x, n * 4)
    digits <- sample(c(1L, 6L, 15L, 17L), 1L)
    cells <- formatC(x, digits = digits, format = sample(c("g", "e", "f"), 1L), flag = sample(c("", "#"), 1L))
    cells <- sub("^([-]?)0+([0-9])", "\\1\\2", trimws(cells))
    cells <- sub("\\.$", ".0", sub("^(-?)\\.", "\\10.", cells))
    cells <- sub("e([-+])0*([0-9])", "e\\1\\2", cells)
    rows <- vapply(seq_len(n), function(r) paste0("[", paste(cells[(r - 1L) * 4L + 1:4], collapse = sample(c(",", " , "), 1L)), "]"), "")
    nm <- sample(spec$feature_names)
    body <- charToRaw(sprintf('{"data":{"names":[%s],"ndarray":[%s]}}', paste0('"', nm, '"', collapse = ","),
                              paste(rows, collapse = ",\n")))
    fast <- .Call(C_rmlops_decode_seldon, body, spec$feature_names)
    expect_false(is.null(fast))
    expect_identical(fast, decode_strict(body, spec))
  }
})

test_that("the C ndarray encoder writes json_values()'s text, byte for byte", {
  set.seed(7)
  edge <- c(0, -0, 1, -1, 0.1, 1 / 3, 2 / 3, 1e-300, 1e300, -1e-300, .Machine$double.xmax, .Machine$double.xmin,
            5e-324, 123456789012345678, 2^53, 2^53 + 1, 1e15, 1e16, 1e21, 0.1 + 0.2, 100, 1e5, 1e-5,
            123456.7890123456, NA, NaN, Inf, -Inf)
  random <- c(runif(3000), rnorm(3000) * 10^sample(-300:300, 3000, TRUE), sample(-1e6:1e6, 300))
  same <- function(x) expect_identical(json_ndarray(x), json_ndarray_r(x))
  same(edge)
  for (v in edge) same(v)
  same(random)
  same(matrix(random[1:3000], ncol = 3))
  same(matrix(c(edge, edge[1:2]), ncol = 3, dimnames = list(NULL, c("a", "b", "c"))))
  same(c(1L, NA, -5L, .Machine$integer.max, -.Machine$integer.max))
  same(matrix(1:6, 2))
  same(c(TRUE, NA, FALSE))
  same(c("setosa", NA, 'q"x', "b\\c", "\u00e9t\u00e9", "x\x7fy", ""))
  same(c("e\001f", "\t"))
  same(character(0))
  same(numeric(0))
  same(matrix(numeric(0), nrow = 0, ncol = 3))
  same(matrix(numeric(0), nrow = 2, ncol = 0))
  same(stats::setNames(c(1.5, 2), c("x", "y")))
  expect_identical(json_ndarray(c(1 / 3, NaN, -0, 1e-300, 1e300)), "[0.333333333333333,null,-0,1e-300,1e+300]")
})

test_that("responses from C: the head and body as format_response() always wrote them", {
  r <- rawToChar(format_response(405L, '{"a":"\u00e9"}', keep_alive = FALSE, extra_headers = c(Allow = "POST, OPTIONS")))
  expect_match(r, "^HTTP/1.1 405 Method Not Allowed\r\nDate: [^\r]+ GMT\r\nContent-Type: application/json\r\n")
  expect_match(r, "\r\nContent-Length: 10\r\nConnection: close\r\nAllow: POST, OPTIONS\r\n\r\n\\{", useBytes = TRUE)
  expect_identical(tail(format_response(200L, as.raw(1:3)), 3L), as.raw(1:3))
  expect_match(rawToChar(format_response(200L, "x", "text/plain")), "Content-Type: text/plain\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nx$")
})

test_that("the server's request log line is one JSON object, strings escaped, rows null or a count", {
  log <- make_request_log(new_metrics(), test_contract$paths)
  lines <- capture.output({
    log("POST", "/predict", 200L, now_seconds() - 0.002, 3L)
    log("GET", "/a\"b\\c", 404L, now_seconds(), NA)
  })
  expect_length(lines, 2L)
  first <- jsonlite::fromJSON(lines[[1L]])
  expect_named(first, c("ts", "method", "path", "status", "duration_ms", "rows"))
  expect_match(first$ts, "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$")
  expect_gte(first$duration_ms, 1.5)
  expect_equal(first$rows, 3L)
  second <- jsonlite::fromJSON(lines[[2L]])
  expect_equal(second$path, "/a\"b\\c")
  expect_null(second$rows)
})

test_that("metrics recorded in place are what the list-based counters gave", {
  m <- new_metrics()
  secs <- c(0.0004, 0.0005, 0.0007, 0.001, 0.003, 0.02, 7, 11, 0.0001)
  codes <- c(200L, 200L, 400L, 200L, 503L, 200L, 200L, 404L, 200L)
  for (i in seq_along(secs)) record_request(m, "/predict", codes[[i]], secs[[i]])
  record_request(m, "other", 200L, 0.002)
  record_request(m, "other", 99L, 0.002)
  snap <- metrics_snapshot(m)
  expected_buckets <- tabulate(findInterval(secs, latency_buckets, left.open = TRUE) + 1L, length(latency_buckets) + 1L)
  expect_equal(snap$hist[["/predict"]], list(buckets = as.numeric(expected_buckets), sum = sum(secs), count = 9))
  expect_equal(snap$hist[["other"]]$count, 2)
  expect_equal(snap$counts[sort(names(snap$counts))],
               c("/predict\t200" = 6, "/predict\t400" = 1, "/predict\t404" = 1, "/predict\t503" = 1,
                 "other\t200" = 1, "other\t99" = 1))
  # A snapshot is a copy: later requests do not change it.
  record_request(m, "/predict", 200L, 0.001)
  expect_equal(snap$hist[["/predict"]]$count, 9)
  expect_equal(metrics_snapshot(new_metrics()), list(counts = numeric(), hist = list(), feedback = c(count = 0, reward = 0, truth = 0)))
})
