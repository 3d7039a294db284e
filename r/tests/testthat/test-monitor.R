# The drift monitor on payload-log windows written as the sink writes them (helper-monitor.R).

now <- as.numeric(as.POSIXct("2026-12-05 08:00:00", tz = "UTC"))
thresholds <- monitor_defaults()

iris_bundle <- local({
  dir <- NULL
  function() {
    if (is.null(dir)) {
      dir <<- file.path(tempfile("monitor-iris-"), "model")
      write_bundle(iris_rf(), dir, datasets::iris[c(1, 51, 101), 1:4], reference = datasets::iris[, 1:4])
    }
    dir
  }
})

iris_window <- function(n = 200L, seed = 3L, shift = NULL) {
  set.seed(seed)
  w <- datasets::iris[sample.int(150L, n, replace = TRUE), 1:4]
  rownames(w) <- NULL
  if (!is.null(shift)) w[[shift]] <- w[[shift]] + 1.5
  w
}

iris_predict <- function(bundle) function(row) predict_bundle(bundle, row)

prom_value <- function(text, series) {
  lines <- strsplit(text, "\n", fixed = TRUE)[[1L]]
  hit <- lines[startsWith(lines, paste0(series, " "))]
  if (length(hit) != 1L) return(NA_real_)
  as.numeric(sub("^.* ", "", hit))
}

test_that("an unshifted window raises no alarm; one shifted feature raises that feature's alarm only", {
  b <- read_bundle(iris_bundle())
  ref <- read_reference(file.path(iris_bundle(), "reference"))
  dir <- tempfile("win-")
  write_window(dir, iris_window(), iris_predict(b), now - 60)
  res <- monitor_window(read_payload_window(dir, 3600, now), ref, thresholds)
  expect_equal(res$status, "ok")
  expect_equal(res$events, 200L)
  expect_equal(res$rows, 200L)
  expect_equal(res$responses, 200L)
  expect_equal(res$bad, 0L)
  expect_setequal(names(res$drift), names(datasets::iris)[1:4])
  expect_false(any(vapply(res$drift, function(d) d$alarm, NA)))
  expect_true(all(vapply(res$drift, function(d) d$psi < 0.25 && d$ks < 0.2, NA)))
  expect_lt(res$prediction_shift$psi, 0.25)

  shifted <- tempfile("win-")
  write_window(shifted, iris_window(shift = "Petal.Length"), iris_predict(b), now - 60)
  res <- monitor_window(read_payload_window(shifted, 3600, now), ref, thresholds)
  alarms <- vapply(res$drift, function(d) d$alarm, NA)
  expect_equal(names(alarms)[alarms], "Petal.Length")
  expect_gt(res$drift$Petal.Length$psi, 1)
  expect_gt(res$drift$Petal.Length$ks, 0.3)
})

test_that("factors, logicals, the v2 protocol and feedback with the truth (rmse)", {
  d <- datasets::mtcars
  data <- data.frame(wt = d$wt, hp = d$hp, cyl = factor(d$cyl, levels = c(4, 6, 8)), manual = d$am == 1, mpg = d$mpg)
  dir <- file.path(tempfile("monitor-mtcars-"), "model")
  fit <- stats::lm(mpg ~ wt + hp + cyl + manual, data = data)
  write_bundle(fit, dir, data[1:3, c("wt", "hp", "cyl", "manual")], reference = data)
  b <- read_bundle(dir)
  ref <- read_reference(file.path(dir, "reference"))
  set.seed(5)
  rows <- data[sample.int(32L, 120L, replace = TRUE), ]
  win <- tempfile("win-")
  write_window(win, rows[, 1:4], function(r) predict_bundle(b, r), now - 10, protocol = "v2", truth = rows$mpg + 1)
  res <- monitor_window(read_payload_window(win, 3600, now), ref, thresholds, min_rows = 100)
  expect_equal(res$bad, 0L)
  expect_equal(res$rows, 120L)
  expect_setequal(names(res$drift$cyl), c("psi", "chisq_p", "alarm"))
  expect_setequal(names(res$drift$manual), c("psi", "chisq_p", "alarm"))
  expect_false(any(vapply(res$drift, function(x) x$alarm, NA)))
  # every prediction is off by exactly the training residual plus one
  p <- predict_bundle(b, rows[, 1:4])
  expect_equal(res$performance$rmse, sqrt(mean((p - rows$mpg - 1)^2)), tolerance = 1e-9)
  expect_equal(res$performance$n, 120L)

  # a level the training never had (an engine of 12 cylinders): cyl's alarm only
  odd <- rows[, 1:4]
  odd$cyl <- as.character(odd$cyl)
  odd$cyl[1:60] <- "12"
  win2 <- tempfile("win-")
  write_window(win2, odd, function(r) 20, now - 10)
  res <- monitor_window(read_payload_window(win2, 3600, now), ref, thresholds, min_rows = 100)
  alarms <- vapply(res$drift, function(x) x$alarm, NA)
  expect_equal(names(alarms)[alarms], "cyl")
  expect_lt(res$drift$cyl$chisq_p, 1e-10)
})

test_that("hostile and bad records are counted and skipped; duplicates and old records are left out", {
  b <- read_bundle(iris_bundle())
  ref <- read_reference(file.path(iris_bundle(), "reference"))
  dir <- tempfile("win-")
  write_window(dir, iris_window(60L), iris_predict(b), now - 30)
  # the same file again (an upload repeated): every event a duplicate by id
  file.copy(file.path(dir, "part-0.jsonl"), file.path(dir, "again.jsonl"))
  write_window(dir, iris_window(10L, seed = 9L), iris_predict(b), now - 7200, file = "old.jsonl", prefix = "old")
  hostile <- c(
    "not json at all",
    '{"reqType": "%s%s%s%n", "payload": ',
    "[1, 2, 3]",
    '{"id": "x1", "payload": {}}',
    strrep("[", 5000),
    paste0('{"id":"big","reqType":"io.seldon.serving.inference.request","received":"', utc_time(now), '","payload":"', strrep("a", 9e6), '"}'),
    '{"id": "t1", "reqType": "io.seldon.serving.inference.request", "received": "yesterday", "payload": {}}',
    sprintf('{"id": "w1", "reqType": "io.seldon.serving.inference.request", "received": "%s", "payload": {"data": {"ndarray": [["a", "b", "c", "d"]]}}}', utc_time(now)),
    sprintf('{"id": "w2", "reqType": "io.seldon.serving.inference.request", "received": "%s", "bytes": "AAEC"}', utc_time(now)),
    sprintf('{"id": "w3", "reqType": "io.seldon.serving.inference.response", "received": "%s", "payload": {"status": {"code": 400}}}', utc_time(now)),
    sprintf('{"id": "w4", "reqType": "io.seldon.serving.feedback", "puid": "p-1", "received": "%s", "payload": {"truth": {"data": {"ndarray": [["setosa"], ["x"]]}}}}', utc_time(now)),
    "\xff\xfe invalid utf-8"
  )
  writeLines(hostile, file.path(dir, "hostile.jsonl"), useBytes = TRUE)
  writeLines("ignored", file.path(dir, "notes.txt"))
  w <- read_payload_window(dir, 3600, now)
  expect_equal(w$counts$files, 4L)
  expect_equal(w$counts$duplicates, 120L)
  expect_equal(w$counts$outside_window, 20L)
  # not JSON, cut short, an array, no reqType, too deep, too long, no time, not UTF-8
  expect_equal(w$counts$bad, 8L)
  res <- monitor_window(w, ref, list(psi = 0.25, ks = 0.2, chisq_p = 0.001), min_rows = 50)
  expect_equal(res$events, 62L)
  expect_equal(res$rows, 60L)
  # + a request of strings, a request without JSON, an error response, feedback rows != predictions
  expect_equal(res$bad, 8L + 4L)
  expect_equal(res$status, "ok")
})

test_that("too few rows: no drift figures, the events are still counted", {
  b <- read_bundle(iris_bundle())
  ref <- read_reference(file.path(iris_bundle(), "reference"))
  dir <- tempfile("win-")
  write_window(dir, iris_window(20L), iris_predict(b), now - 30)
  res <- monitor_window(read_payload_window(dir, 3600, now), ref, thresholds, min_rows = 50)
  expect_equal(res$status, "too_few_rows")
  expect_equal(res$events, 20L)
  expect_length(res$drift, 0L)
  expect_length(res$prediction_shift, 0L)
  text <- monitor_prometheus_text(res, now)
  expect_false(grepl("rmlops_monitor_drift", text, fixed = TRUE))
  expect_equal(prom_value(text, test_contract$metrics$monitorWindowEvents), 20)
  empty <- tempfile("win-")
  dir.create(empty)
  res <- monitor_window(read_payload_window(empty, 3600, now), ref, thresholds)
  expect_equal(res$events, 0L)
  expect_equal(res$status, "too_few_rows")
})

test_that("RFC 3339 times: Z, fractions, offsets; anything else is NA", {
  expect_equal(parse_rfc3339("2026-12-05T08:00:00Z"), now)
  expect_equal(parse_rfc3339("2026-12-05T08:00:00.250Z"), now + 0.25, tolerance = 1e-6)
  expect_equal(parse_rfc3339("2026-12-05T09:30:00+01:30"), now)
  expect_equal(parse_rfc3339("2026-12-05T06:00:00-02:00"), now)
  expect_true(is.na(parse_rfc3339("2026-12-05 08:00")))
  expect_true(is.na(parse_rfc3339(12)))
  expect_true(is.na(parse_rfc3339("2026-13-45T08:00:00Z")))
})

test_that("the Prometheus text has exactly the contract's names and labels", {
  res <- list(events = 200L, drift = list(`Petal "odd"\\name` = list(psi = 0.5, ks = 0.25, alarm = TRUE),
                                         cyl = list(psi = 0.01, chisq_p = 0.3, alarm = FALSE),
                                         gone = list(psi = NA_real_, ks = NA_real_, alarm = FALSE)),
              prediction_shift = list(psi = 0.125), performance = list(accuracy = 0.75, n = 4L))
  text <- monitor_prometheus_text(res, now)
  m <- test_contract$metrics
  lines <- strsplit(text, "\n", fixed = TRUE)[[1L]]
  samples <- lines[!startsWith(lines, "#")]
  expect_true(all(grepl('^[a-z_]+(\\{([a-z_]+="([^"\\\\]|\\\\.)*",?)+\\})? [-+0-9.eEInfNa]+$', samples)))
  expect_equal(prom_value(text, sprintf('%s{feature="Petal \\"odd\\"\\\\name",statistic="psi"}', m$monitorDrift)), 0.5)
  expect_equal(prom_value(text, sprintf('%s{feature="cyl",statistic="chisq_p"}', m$monitorDrift)), 0.3)
  expect_equal(prom_value(text, sprintf('%s{feature="Petal \\"odd\\"\\\\name"}', m$monitorDriftAlarm)), 1)
  expect_equal(prom_value(text, sprintf('%s{feature="cyl"}', m$monitorDriftAlarm)), 0)
  expect_equal(prom_value(text, sprintf('%s{feature="gone"}', m$monitorDriftAlarm)), 0)
  expect_false(grepl('feature="gone",statistic', text, fixed = TRUE))
  expect_equal(prom_value(text, sprintf('%s{statistic="psi"}', m$monitorPredictionShift)), 0.125)
  expect_equal(prom_value(text, sprintf('%s{metric="accuracy"}', m$monitorPerformance)), 0.75)
  expect_false(grepl('metric="n"', text, fixed = TRUE))
  expect_equal(prom_value(text, m$monitorWindowEvents), 200)
  expect_equal(prom_value(text, m$monitorLastSuccess), now)
  for (name in unlist(m[grepl("^monitor", names(m))])) {
    expect_true(paste0("# TYPE ", name, " gauge") %in% lines, info = name)
  }
})

monitor_env <- function(payload, metrics, model_uri, ...) {
  c(MONITOR_PAYLOAD_DIR = payload, MONITOR_METRICS_FILE = metrics, MODEL_URI = model_uri, MLFLOW_TRACKING_URI = NA,
    MLFLOW_REGISTERED_MODEL_NAME = NA, MONITOR_DEPLOYMENT = "iris", MONITOR_PREDICTOR = "default", ...)
}

test_that("monitor_main writes the metrics file atomically from a local bundle's reference; exit codes", {
  expect_equal(unname(unlist(test_contract$monitorEnv[c("payloadDir", "metricsFile")])), c("MONITOR_PAYLOAD_DIR", "MONITOR_METRICS_FILE"))
  b <- read_bundle(iris_bundle())
  payload <- tempfile("win-")
  write_window(payload, iris_window(shift = "Sepal.Width"), iris_predict(b), as.numeric(Sys.time()) - 5)
  out <- tempfile("out-")
  dir.create(out)
  metrics <- file.path(out, "metrics.prom")
  log <- NULL
  status <- withr::with_envvar(monitor_env(payload, metrics, iris_bundle()),
                               { log <- utils::capture.output(s <- monitor_main()); s })
  expect_equal(status, 0L)
  expect_equal(list.files(out, all.files = TRUE, no.. = TRUE), "metrics.prom")
  text <- paste(readLines(metrics), collapse = "\n")
  m <- test_contract$metrics
  expect_equal(prom_value(text, sprintf('%s{feature="Sepal.Width"}', m$monitorDriftAlarm)), 1)
  expect_equal(prom_value(text, sprintf('%s{feature="Sepal.Length"}', m$monitorDriftAlarm)), 0)
  expect_equal(prom_value(text, m$monitorWindowEvents), 200)
  line <- jsonlite::fromJSON(log[length(log)])
  expect_equal(line$msg, "monitored window")
  expect_equal(line$alarms, "Sepal.Width")
  expect_equal(line$deployment, "iris")

  run <- function(...) withr::with_envvar(monitor_env(...), suppressWarnings({ utils::capture.output(s <- monitor_main()); s }))
  config <- test_contract$trainingConfigErrorExitCode
  expect_equal(run(file.path(payload, "missing"), metrics, iris_bundle()), config)
  expect_equal(run(payload, metrics, iris_bundle(), MONITOR_PSI_THRESHOLD = "high"), config)
  expect_equal(run(payload, metrics, iris_bundle(), MONITOR_CHISQ_P_THRESHOLD = "2"), config)
  expect_equal(run(payload, metrics, iris_bundle(), MONITOR_MIN_ROWS = "0"), config)
  expect_equal(run(payload, file.path(out, "no-such-dir", "m.prom"), iris_bundle()), config)
  no_ref <- file.path(tempfile(), "model")
  write_bundle(stats::lm(dist ~ speed, data = cars), no_ref, cars[1:2, "speed", drop = FALSE])
  expect_equal(run(payload, metrics, no_ref), config)
  expect_equal(withr::with_envvar(c(monitor_env(payload, metrics, NA)), { utils::capture.output(s <- monitor_main()); s }), config)
  # a too-small window still succeeds: the monitor is alive, it had nothing to judge
  expect_equal(run(payload, metrics, iris_bundle(), MONITOR_MIN_ROWS = "1000"), 0L)
  text <- paste(readLines(metrics), collapse = "\n")
  expect_false(grepl(m$monitorDriftAlarm, text, fixed = TRUE))
  expect_false(is.na(prom_value(text, m$monitorLastSuccess)))
})

test_that("the metrics file is replaced by rename: a reader never sees a partial file", {
  out <- tempfile("out-")
  dir.create(out)
  path <- file.path(out, "metrics.prom")
  writeLines("old", path)
  write_text_atomically(path, "new\n")
  expect_equal(readLines(path), "new")
  expect_equal(list.files(out, all.files = TRUE, no.. = TRUE), "metrics.prom")
})
