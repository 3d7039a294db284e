
test_that("route_of remembers matched v2 paths, the same routes as matching them, and at most ROUTE_MEMO_MAX", {
  paths <- jsonlite::fromJSON(system.file("contract.json", package = "rmlops"))$paths
  fresh <- function() route_table(paths)
  for (p in c("/v2/models/iris/infer", "/v2/models/iris/versions/3/ready", "/v2/models/a%2Fb", "/v2/models/%ff/infer")) {
    t <- fresh()
    first <- route_of(p, t)
    expect_identical(route_of(p, t), first)
    expect_identical(route_of(p, fresh()), first)
  }
  t <- fresh()
  for (i in seq_len(ROUTE_MEMO_MAX + 10L)) route_of(sprintf("/v2/models/m%d/infer", i), t)
  expect_equal(length(attr(t, "memo")), ROUTE_MEMO_MAX)
  expect_identical(route_of(sprintf("/v2/models/m%d/infer", ROUTE_MEMO_MAX + 5L), t)$model, sprintf("m%d", ROUTE_MEMO_MAX + 5L))
  expect_null(route_of("/v2/models/", t))
  expect_null(route_of("/nope", t))
  expect_equal(length(attr(t, "memo")), ROUTE_MEMO_MAX)
})
