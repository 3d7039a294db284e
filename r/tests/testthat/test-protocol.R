# The Seldon protocol details issue 19 found missing: puid echoed, a tensor answered with a
# tensor, feedback counted and logged with its puid, 415 for a Content-Encoding, a 400 naming
# binary tensors.
protocol_state <- function() {
  dir <- file.path(tempfile("protocol-"), "model")
  write_bundle(stats::lm(dist ~ speed, data = datasets::cars), dir, datasets::cars[1:2, "speed", drop = FALSE])
  state <- new_model_state("cars")
  set_loaded_model(state, read_bundle(dir), list(name = "cars", version = "1"))
  state
}

call_handler <- function(h, path, body, headers = list()) {
  handle_safely(h, list(method = "POST", path = path, body = charToRaw(body), headers = headers))
}

test_that("meta.puid is echoed (both readers), and a tensor request is answered with a tensor", {
  h <- make_handler(protocol_state(), test_contract$paths)
  for (body in c('{"meta":{"puid":"p-1"},"data":{"ndarray":[[4]]}}',            # the C reader
                 '{"meta":{"puid":"p-1","tags":{"x":"\\u00e9"}},"data":{"ndarray":[[4]]}}')) { # R
    r <- call_handler(h, "/predict", body)
    expect_equal(r$status, 200L)
    expect_equal(jsonlite::parse_json(r$body)$meta$puid, "p-1")
    expect_equal(r$puid, "p-1")
  }
  r <- call_handler(h, "/api/v1.0/predictions", '{"data":{"names":["speed"],"tensor":{"shape":[2,1],"values":[4,10]}}}')
  out <- jsonlite::parse_json(r$body)$data
  expect_null(out$ndarray)
  expect_equal(unlist(out$tensor$shape), 2L)
  expect_length(out$tensor$values, 2L)
  expect_equal(call_handler(h, "/predict", '{"meta":{"puid":5},"data":{"ndarray":[[4]]}}')$status, 400L)
})

test_that("feedback: reward and truth counted, one JSON log line with the puid, from the message or the header", {
  m <- new_metrics()
  h <- make_handler(protocol_state(), test_contract$paths, m)
  lines <- capture.output(r <- call_handler(h, "/send-feedback",
    '{"response":{"meta":{"puid":"p-2"}},"reward":0.5,"truth":{"data":{"ndarray":[[3]]}}}'))
  expect_equal(r$status, 200L)
  expect_equal(jsonlite::parse_json(r$body)$meta$puid, "p-2")
  line <- jsonlite::parse_json(lines[grepl('"feedback"', lines)])
  expect_equal(line[c("msg", "puid", "reward")], list(msg = "feedback", puid = "p-2", reward = 0.5))
  lines <- capture.output(r <- call_handler(h, "/api/v1.0/feedback", '{"reward":1}', list(`seldon-puid` = "p-3")))
  expect_equal(jsonlite::parse_json(lines[grepl('"feedback"', lines)])$puid, "p-3")
  expect_equal(unname(metrics_snapshot(m)$feedback), c(2, 1.5, 1))
  text <- render_prometheus(metrics_snapshot(m), list(load_seconds = 1, workers = 1, running = 1, restarts = 0))
  expect_match(text, "\nrmlops_feedback_total 2\n")
  expect_match(text, "\nrmlops_feedback_reward_sum 1.5\n")
  expect_match(text, "\nrmlops_feedback_truth_total 1\n")
  for (bad in c("[]", "{}", '{"reward":"x"}', '{"reward":1,"other":2}', "x%n")) {
    expect_equal(call_handler(h, "/send-feedback", bad)$status, 400L, info = bad)
  }
})

test_that("a Content-Encoding is a 415 and tritonclient's binary tensors a 400 that names them", {
  h <- make_handler(protocol_state(), test_contract$paths)
  r <- call_handler(h, "/predict", "\x1f", list(`content-encoding` = "gzip"))
  expect_equal(r$status, 415L)
  expect_match(r$body, "Content-Encoding 'gzip' is not supported")
  expect_equal(call_handler(h, "/predict", '{"data":{"ndarray":[[4]]}}', list(`content-encoding` = "identity"))$status, 200L)
  r <- call_handler(h, "/v2/models/cars/infer", '{"inputs":[]}', list(`inference-header-content-length` = "13"))
  expect_equal(r$status, 400L)
  expect_match(r$body, "binary tensor data")
})
