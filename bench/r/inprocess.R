# The floor for the server benchmark: in-process predict() on the same bundle, no HTTP, no JSON.
# Usage: Rscript inprocess.R <bundle_dir> <reps>; prints {"rows_1": ms, "rows_100": ms, "rows_1000": ms}
# (median milliseconds per call).
args <- commandArgs(trailingOnly = TRUE)
suppressMessages(library(randomForest))
model <- readRDS(file.path(args[[1L]], "model.rds"))
reps <- as.integer(args[[2L]])
features <- iris[, 1:4]

# proc.time() ticks in milliseconds, about as long as one call: time batches of calls instead.
median_ms <- function(rows, batch) {
  # Plain row names, like the data frame the server builds from a request.
  newdata <- features[rep_len(seq_len(nrow(features)), rows), , drop = FALSE]
  rownames(newdata) <- NULL
  # The first few hundred calls run slower (heap growth): warm up, as the server bench does.
  for (i in seq_len(300L)) predict(model, newdata)
  times <- vapply(seq_len(max(5L, reps %/% batch)), function(i) {
    started <- proc.time()[["elapsed"]]
    for (j in seq_len(batch)) predict(model, newdata)
    (proc.time()[["elapsed"]] - started) / batch
  }, 0)
  median(times) * 1000
}

cat(jsonlite::toJSON(list(
  rows_1 = median_ms(1L, 20L),
  rows_100 = median_ms(100L, 20L),
  rows_1000 = median_ms(1000L, 10L)
), auto_unbox = TRUE, digits = 6), "\n")
