# Baseline for the R server benchmark: Rserve's built-in HTTP server (the engine under RestRserve)
# serving the same bundle's model. Rserve forks a process per connection, so it uses every core.
# Usage: Rscript rserve.R <bundle_dir> <port>
args <- commandArgs(trailingOnly = TRUE)
suppressMessages(library(randomForest))
model <- readRDS(file.path(args[[1L]], "model.rds"))
features <- c("Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width")

# Rserve calls .http.request(url, query, body, headers) in the global environment; the body of a
# POST arrives as a raw vector. A plain, reasonable handler: parse, predict, answer.
.http.request <- function(url, query, body, headers, ...) {
  if (url == "/health") return(list("ok", "text/plain"))
  if (url != "/predict") return(list("not found", "text/plain", character(), 404L))
  msg <- jsonlite::fromJSON(rawToChar(body))
  x <- as.data.frame(msg$data$ndarray)
  names(x) <- features
  out <- list(data = list(names = list("prediction"), ndarray = as.character(predict(model, x))))
  list(as.character(jsonlite::toJSON(out, auto_unbox = TRUE)), "application/json")
}
assign(".http.request", .http.request, envir = globalenv())
Rserve::run.Rserve(http.port = as.integer(args[[2L]]), qap = FALSE, "http.raw.body" = "TRUE", config.file = "/dev/null")
