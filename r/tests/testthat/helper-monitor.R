# Payload-log records as the payload sink writes them (docs/payload-logging.md): one JSON object
# per line, KServe logger field names, request/response/feedback linked by puid.

event_type <- function(kind) rmlops_contract()$payloadEventTypes[[kind]]

utc_time <- function(t) format(as.POSIXct(t, origin = "1970-01-01", tz = "UTC"), "%Y-%m-%dT%H:%M:%OS3Z")

record <- function(kind, puid, payload, time, id = paste0(kind, "-", puid)) {
  list(id = id, reqType = event_type(kind), puid = puid, namespace = "ns", inferenceService = "dep",
       endpoint = "default", component = "model", contentType = "application/json", received = utc_time(time),
       payload = payload)
}

# Rows of a data frame as a Seldon ndarray (factors as strings).
ndarray_rows <- function(frame) {
  lapply(seq_len(nrow(frame)), function(i) {
    lapply(frame[i, , drop = FALSE], function(v) if (is.factor(v)) as.character(v) else v)
  })
}

seldon_request <- function(frame) list(data = list(names = I(names(frame)), ndarray = ndarray_rows(unname(frame))))

v2_request <- function(frame) {
  dt <- function(v) if (is.numeric(v)) "FP64" else if (is.logical(v)) "BOOL" else "BYTES"
  list(inputs = lapply(names(frame), function(n) {
    v <- frame[[n]]
    list(name = n, datatype = dt(v), shape = I(nrow(frame)), data = I(if (is.factor(v)) as.character(v) else v))
  }))
}

seldon_response <- function(pred) {
  if (is.matrix(pred)) return(list(data = list(names = I(colnames(pred)), ndarray = lapply(seq_len(nrow(pred)), function(i) I(unname(pred[i, ]))))))
  list(data = list(names = I("prediction"), ndarray = I(pred)), meta = list())
}

# One JSONL file of `frame`'s rows as single-row predictions with `predict`, every event at
# `time`; `truth` (one per row) adds a feedback event per row.
write_window <- function(dir, frame, predict, time, protocol = "seldon", truth = NULL, file = "part-0.jsonl", prefix = "p") {
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  lines <- character()
  for (i in seq_len(nrow(frame))) {
    row <- frame[i, , drop = FALSE]
    puid <- sprintf("%s-%d", prefix, i)
    pred <- predict(row)
    req <- if (protocol == "v2") v2_request(row) else seldon_request(row)
    recs <- list(record("request", puid, req, time), record("response", puid, seldon_response(pred), time))
    if (!is.null(truth)) {
      recs[[3L]] <- record("feedback", puid, list(reward = 1, truth = list(data = list(ndarray = I(list(I(truth[[i]])))))), time)
    }
    lines <- c(lines, vapply(recs, function(r) as.character(jsonlite::toJSON(r, auto_unbox = TRUE, digits = NA)), ""))
  }
  writeLines(lines, file.path(dir, file))
  invisible(file.path(dir, file))
}
