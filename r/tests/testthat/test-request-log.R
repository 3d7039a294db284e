test_that("a request log line is one JSON object with the fields in order, strings escaped", {
  started <- now_seconds() - 0.0015
  lines <- capture.output({
    log_request("POST", "/api/v1.0/predictions", 200L, started, 3L)
    log_request("GET", "/a\"b\\c/\u00e9", 404L, now_seconds(), NA)
  })
  expect_length(lines, 2L)
  first <- jsonlite::fromJSON(lines[[1L]])
  expect_named(first, c("ts", "method", "path", "status", "duration_ms", "rows"))
  expect_match(first$ts, "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$")
  expect_equal(first$path, "/api/v1.0/predictions")
  expect_equal(first$status, 200L)
  expect_gte(first$duration_ms, 1.5)
  expect_equal(first$rows, 3L)
  second <- jsonlite::fromJSON(lines[[2L]])
  expect_equal(second$path, "/a\"b\\c/\u00e9")
  expect_null(second$rows)
})

test_that("the cached timestamp agrees with format() across a second boundary", {
  for (t in c(1795700000.9996, 1795700001.0004, 1795700001.5)) {
    expect_equal(utc_timestamp_ms(t),
                 paste0(format(.POSIXct(floor(t), tz = "UTC"), "%Y-%m-%dT%H:%M:%S", tz = "UTC"),
                        sprintf(".%03dZ", as.integer((t - floor(t)) * 1000))))
  }
})
