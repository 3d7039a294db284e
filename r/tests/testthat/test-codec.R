proto <- input_spec(lapply(c("a", "b", "c"), function(n) list(name = n, type = "numeric")))
body <- function(x) charToRaw(x)
expect_bad <- function(json, pattern) {
  err <- tryCatch(decode_request(body(json), proto), bad_request = function(e) e)
  expect_s3_class(err, "bad_request")
  expect_equal(err$code, 400L)
  expect_match(conditionMessage(err), pattern)
}

test_that("ndarray rows become a data frame in prototype order", {
  df <- decode_request(body('{"data":{"ndarray":[[1,2,3],[4,5,6]]}}'), proto)
  expect_equal(names(df), c("a", "b", "c"))
  expect_equal(df$b, c(2, 5))
})

test_that("names in another order are mapped to the prototype's features", {
  df <- decode_request(body('{"data":{"names":["c","a","b"],"ndarray":[[3,1,2]]}}'), proto)
  expect_equal(unlist(df[1, ]), c(a = 1, b = 2, c = 3))
})

test_that("a tensor is read row-major, and a 1-D shape is one row", {
  df <- decode_request(body('{"data":{"tensor":{"shape":[2,3],"values":[1,2,3,4,5,6]}}}'), proto)
  expect_equal(df$c, c(3, 6))
  expect_equal(nrow(decode_request(body('{"data":{"tensor":{"shape":[3],"values":[1,2,3]}}}'), proto)), 1L)
})

test_that("every kind of bad input is a bad_request explaining what is expected", {
  expect_bad("", "empty body")
  expect_bad("{", "malformed JSON")
  expect_bad("[1,2]", "JSON array: expected an object")
  expect_bad('"x"', "JSON string")
  expect_bad("{}", "missing 'data'")
  expect_bad('{"data":[1]}', "'data' is a JSON array")
  expect_bad('{"data":{}}', "neither 'ndarray' nor 'tensor'")
  expect_bad('{"data":{"ndarray":[]}}', "is empty")
  expect_bad('{"data":{"ndarray":[1,2,3]}}', "row 1 .* JSON number")
  expect_bad('{"data":{"ndarray":[[1,2,3],[1,2]]}}', "ragged")
  expect_bad('{"data":{"ndarray":[[1,2]]}}', "2 values: the model expects 3")
  expect_bad('{"data":{"ndarray":[[[1],2,3]]}}', "exactly 2-D")
  expect_bad('{"data":{"ndarray":[[1,"2",3]]}}', "column 2 is a JSON string")
  expect_bad('{"data":{"ndarray":[[1,true,3]]}}', "JSON boolean")
  expect_bad('{"data":{"ndarray":[[1,null,3]]}}', "JSON null")
  # The vectorised fast path must still catch what unlist() would hide: booleans (coerced to
  # 0/1), one-element arrays (flattened), empty arrays and objects, in any row of a batch.
  expect_bad('{"data":{"ndarray":[[1,2,3],[4,5,false]]}}', "row 2 column 3 is a JSON boolean")
  expect_bad('{"data":{"ndarray":[[1,2,3],[4,[5],6]]}}', "row 2 column 2 is a JSON array")
  expect_bad('{"data":{"ndarray":[[1,[],3]]}}', "column 2 is a JSON array")
  expect_bad('{"data":{"ndarray":[[1,{"x":1},3]]}}', "column 2 is a JSON object")
  expect_bad('{"data":{"ndarray":[[1,2,3],{"a":1,"b":2,"c":3}]}}', "row 2 of 'data.ndarray' is a JSON object")
  expect_bad('{"data":{"tensor":{"shape":[1,3],"values":[1,true,3]}}}', "element 2 is a JSON boolean")
  expect_bad('{"data":{"ndarray":[[1,1e999,3]]}}', "not finite")
  expect_bad('{"data":{"names":["a","b"],"ndarray":[[1,2,3]]}}', "2 names")
  expect_bad('{"data":{"names":["a","a","b"],"ndarray":[[1,2,3]]}}', "duplicate")
  expect_bad('{"data":{"names":["a","b","z"],"ndarray":[[1,2,3]]}}', "unknown name.*z")
  expect_bad('{"data":{"names":"a","ndarray":[[1,2,3]]}}', "array of strings")
  expect_bad('{"data":{"tensor":{"shape":[2,3],"values":[1,2,3]}}}', "needs 6 values")
  expect_bad('{"data":{"tensor":{"shape":[1,2],"values":[1,2]}}}', "expects 3")
  expect_bad('{"data":{"tensor":{"shape":[-1,3],"values":[1,2,3]}}}', "positive integers")
  expect_bad('{"data":{"tensor":{"values":[1,2,3]}}}', "both 'shape' and 'values'")
  expect_bad('{"data":{"ndarray":[[1,2,3]],"tensor":{"shape":[3],"values":[1,2,3]}}}', "both")
  expect_bad('{"strData":"hello"}', "strData")
  expect_bad(paste0(strrep("[", 40), strrep("]", 40)), "nested deeper")
})

test_that("NUL bytes and invalid UTF-8 are rejected before parsing", {
  err <- tryCatch(decode_request(as.raw(c(0x7b, 0x00, 0x7d)), proto), bad_request = function(e) e)
  expect_match(conditionMessage(err), "NUL")
  err <- tryCatch(decode_request(as.raw(c(0x22, 0xff, 0x22)), proto), bad_request = function(e) e)
  expect_match(conditionMessage(err), "UTF-8")
})

test_that("predictions are encoded with ndarray always an array", {
  out <- jsonlite::parse_json(encode_predictions(factor("setosa"), list("prediction"), list(tags = list(a = "b"))))
  expect_equal(out$data$ndarray, list("setosa"))
  expect_equal(out$data$names, list("prediction"))
  expect_match(encode_predictions("setosa", "prediction", list(tags = list(a = "b"))), '"ndarray":\\["setosa"\\]')
  expect_equal(jsonlite::parse_json(encode_predictions(c(1.5, 2), "y", list(tags = list(a = "b"))))$data$ndarray, list(1.5, 2L))
})

test_that("the Seldon status body has code, info, reason and FAILURE", {
  s <- jsonlite::parse_json(seldon_status_body(413L, "too big", "PAYLOAD_TOO_LARGE"))$status
  expect_equal(s, list(code = 413L, info = "too big", reason = "PAYLOAD_TOO_LARGE", status = "FAILURE"))
})

test_that("a large all-numeric batch is read by the C row reader exactly as the strict parser reads it", {
  spec <- input_spec(lapply(c("a", "b", "c"), function(n) list(name = n, type = "numeric")))
  set.seed(3)
  m <- matrix(round(rnorm(900) * 1e3, 3), ncol = 3)
  m[1, ] <- c(0, -0.5, 1e-300)
  rows <- paste0("[", apply(m, 1, function(r) paste(format(r, digits = 15, trim = TRUE), collapse = " , ")), "]", collapse = ",\n ")
  body <- charToRaw(sprintf('{"meta":{"x":"ndarrays"},"data":{"names":["c","a","b"],"ndarray":[ %s ]}}', rows))
  expect_false(is.null(decode_rows_fast(body, spec)))
  expect_equal(decode_request(body, spec), decode_strict(body, spec))
  expect_equal(decode_request(body, spec)$c, m[, 1])
  many <- paste(rep("[1,2,3]", 600), collapse = ",")
  # Not numbers as JSON writes them, or not that shape: the strict parser answers, with its message.
  for (cell in c("+1", ".5", "5.", "01", "0x10", "Infinity", "NaN", "1e", "--1", "1.2.3", "true", "null", '"2"', "1e999", "[2]")) {
    json <- sprintf('{"data":{"ndarray":[%s,[1,%s,3]]}}', many, cell)
    expect_null(decode_rows_fast(charToRaw(json), spec))
    expect_error(decode_request(charToRaw(json), spec), class = "bad_request")
  }
  bad <- function(json) tryCatch(decode_request(charToRaw(json), spec), bad_request = function(e) conditionMessage(e))
  expect_match(bad(sprintf('{"data":{"ndarray":[%s,[1,1e999,3]]}}', many)), "not finite")
  expect_match(bad(sprintf('{"data":{"ndarray":[%s,[1,true,3]]}}', many)), "JSON boolean")
  expect_match(bad(sprintf('{"data":{"ndarray":[%s]},"data":1}', many)), "duplicate key")
  expect_match(bad(sprintf('{"data":{"ndarray":[%s],"tensor":{}}}', many)), "both")
  expect_match(bad(sprintf('{"data":{"ndarray":[%s,[1,2]]}}', many)), "ragged")
  expect_match(bad(sprintf('{"data":{"names":["a","a","b"],"ndarray":[%s]}}', many)), "duplicate name")
})
