# Client bytes that once crashed or corrupted the server (issue 19), each pinned here, and the
# property that keeps them out: only JSON rm_json_check() (src/wire.c) accepts reaches jsonlite,
# and everything it accepts jsonlite parses without taking its error path.
hostile_spec <- input_spec(lapply(c("a", "b", "c"), function(n) list(name = n, type = "numeric")))

test_that("printf directives in a malformed body are a 400, not a crash (jsonlite 1.8.4 formats its errors)", {
  for (text in c("x%s%s%s%s%s%s%s%s%s%s", "x%n", "%n", '{"data":"%n', "[1,%s]", "{\"a\":%n}", "%22n")) {
    err <- tryCatch(decode_request(charToRaw(text), hostile_spec), bad_request = function(e) e)
    expect_s3_class(err, "bad_request")
    expect_match(conditionMessage(err), "^malformed JSON \\([a-z].* at byte [0-9]+\\)")
    # The explanation never quotes the client's bytes back.
    expect_false(grepl("%n|%s", conditionMessage(err)))
    err <- tryCatch(decode_v2_request(charToRaw(text), hostile_spec), bad_request = function(e) e)
    expect_s3_class(err, "bad_request")
  }
})

test_that("the validator refuses what RFC 8259 refuses, and what jsonlite would misread", {
  bad <- list(
    "", " ", "{", "[1,]", "[01]", "[1.]", "[.5]", "[+1]", "[-]", "[1e]", "{\"a\" 1}", "{\"a\":1,}", "{1:2}",
    "[1] x", "tru", "nul", "[\"\\x\"]", "[\"\\u12\"]", "[\"a\nb\"]", "\"abc",
    "[\"\\u0000\"]",                   # jsonlite cuts the string at the NUL
    "[\"\\ud800\"]", "[\"\\udc00x\"]",  # unpaired surrogates: jsonlite makes invalid UTF-8 of them
    "[\"\\ud800\\u0041\"]"
  )
  for (text in bad) expect_false(is.null(json_problem(charToRaw(text))), info = text)
  raw_bad <- list(
    as.raw(c(0xef, 0xbb, 0xbf, 0x5b, 0x5d)),        # byte-order mark
    c(charToRaw("[\""), as.raw(c(0xc0, 0xaf)), charToRaw("\"]")), # overlong '/'
    c(charToRaw("[\""), as.raw(c(0xed, 0xa0, 0x80)), charToRaw("\"]")), # encoded surrogate
    c(charToRaw("[\""), as.raw(c(0xf4, 0x90, 0x80, 0x80)), charToRaw("\"]")), # above U+10FFFF
    c(charToRaw("[\""), as.raw(0xff), charToRaw("\"]")),
    c(charToRaw("[1"), as.raw(0), charToRaw("]"))
  )
  for (r in raw_bad) expect_false(is.null(json_problem(r)))
  expect_match(json_problem(charToRaw(paste0(strrep("[", 17), strrep("]", 17)))), "nested too deep")
  good <- c("0", "-0", "1.5e-3", "[]", "{}", "\"\"", "[\"\\ud83d\\ude00\"]", "{\"a\":[1,{\"b\":null}],\"c\":true}",
            " [ 1 , 2 ] ", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"", "1e999", "[\"%n%s\"]")
  for (text in good) expect_null(json_problem(charToRaw(text)), info = text)
  expect_null(json_problem(c(charToRaw("[\""), as.raw(c(0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80)), charToRaw("\"]"))))
})

test_that("whatever the validator accepts, jsonlite parses without an error (random and mutated JSON texts)", {
  set.seed(19L)
  atoms <- c("0", "-1.5e3", "1E+2", "12", "true", "false", "null", "\"\"", "\"a\\u00e9\"", "\"\\ud83d\\ude00\"", "\"\\n\"")
  value <- function(depth) {
    k <- if (depth > 3) 1L else sample(1:3, 1L, prob = c(0.5, 0.25, 0.25))
    items <- function() vapply(seq_len(sample(0:3, 1L)), function(i) value(depth + 1L), "")
    switch(k, sample(atoms, 1L), paste0("[", paste(items(), collapse = ","), "]"),
           { v <- items(); paste0("{", paste0("\"k", seq_along(v), "\":", v, collapse = ","), "}") })
  }
  alphabet <- c("{", "}", "[", "]", ",", ":", "\"", "\\", "u", "d", "8", "0", "-", ".", "e", "+", " ", "t", "n", "x")
  accepted <- rejected <- 0L
  for (i in seq_len(3000L)) {
    chars <- strsplit(value(0L), "")[[1L]]
    if (runif(1) < 0.6) {
      at <- sample(seq_len(length(chars) + 1L), 1L)
      chars <- append(chars, sample(alphabet, 1L), after = at - 1L)
      if (runif(1) < 0.5 && length(chars) > 1L) chars <- chars[-sample(seq_along(chars), 1L)]
    }
    text <- paste(chars, collapse = "")
    if (!is.null(json_problem(charToRaw(text)))) {
      rejected <- rejected + 1L
      next
    }
    accepted <- accepted + 1L
    parsed <- tryCatch(jsonlite::parse_json(text), error = function(e) e)
    expect_false(inherits(parsed, "error"), info = text)
  }
  expect_gt(accepted, 500L)
  expect_gt(rejected, 500L)
})

test_that("a path segment that decodes to a NUL or to bytes that are not UTF-8 is a 404, not a 500", {
  table <- route_table(test_contract$paths)
  for (seg in c("%ff%fe", "%00", "%zz", "%")) {
    r <- route_of(paste0("/v2/models/", seg, "/infer"), table)
    expect_true(validUTF8(r$model))
    state <- new_model_state("iris")
    err <- tryCatch(check_v2_model(state, r), not_found = function(e) e)
    expect_s3_class(err, "not_found")
  }
})

test_that("log lines stay JSON when an error message carries bytes that are not UTF-8", {
  bad <- rawToChar(as.raw(c(0x61, 0xff, 0xfe)))
  line <- capture.output(log_line(list(level = "error", error = bad)))
  expect_true(jsonlite::validate(line))
})

test_that("a rejected request's duration is never NA, NaN or negative (metrics and log)", {
  m <- new_metrics()
  log <- make_request_log(m, test_contract$paths)
  state <- new_connection(NULL, now_seconds())
  state$request_started <- now_seconds()
  state$open <- FALSE # nothing is written in a test
  lines <- capture.output(reject(state, bad_head("x"), log, http_server_options(), "POST", "/predict", state$request_started))
  lines <- c(lines, capture.output(log("GET", "/x", 408L, NA_real_, NA_integer_)),
             capture.output(log("GET", "/x", 408L, now_seconds() + 5, NA_integer_)))
  for (l in lines) {
    expect_true(jsonlite::validate(l), info = l)
    expect_gte(jsonlite::parse_json(l)$duration_ms, 0)
  }
  text <- render_prometheus(metrics_snapshot(m), list(load_seconds = NA_real_, workers = 1, running = 1, restarts = 0))
  expect_false(grepl("\\bNA\\b|nan|-[0-9]", text))
  expect_match(text, "rmlops_model_load_seconds NaN")
})
