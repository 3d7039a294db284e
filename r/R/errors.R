# Every failure is a classed condition, so callers decide by class, not by message text:
# the HTTP layer maps `http_error` to a status code, and the training entrypoint maps
# `config_error` to the contract's configuration-error exit code (the Job is not retried) and
# everything else to 1 (retried).

rmlops_condition <- function(message, class, ...) {
  structure(class = c(class, "error", "condition"), list(message = message, call = NULL, ...))
}

http_error <- function(message, code, reason, class) {
  rmlops_condition(message, c(class, "http_error"), code = as.integer(code), reason = reason)
}

# Reasons follow the Seldon Python wrapper's vocabulary where one exists.
bad_request <- function(message) http_error(message, 400L, "MICROSERVICE_BAD_DATA", "bad_request")
payload_too_large <- function(message) http_error(message, 413L, "PAYLOAD_TOO_LARGE", "payload_too_large")
not_found <- function(message) http_error(message, 404L, "NOT_FOUND", "not_found")
method_not_allowed <- function(message) http_error(message, 405L, "METHOD_NOT_ALLOWED", "method_not_allowed")
not_ready <- function(message) http_error(message, 503L, "MODEL_NOT_READY", "not_ready")
unsupported_media <- function(message) http_error(message, 415L, "UNSUPPORTED_MEDIA_TYPE", "unsupported_media")

seldon_status_body <- function(code, info, reason) {
  as.character(jsonlite::toJSON(
    list(status = list(code = as.integer(code), info = info, reason = reason, status = "FAILURE")),
    auto_unbox = TRUE
  ))
}

#' Error conditions raised by rmlops
#'
#' Every error rmlops raises is a condition with a class hierarchy, so callers can handle it
#' with `tryCatch(..., <class> = function(e) ...)` instead of matching message text.
#'
#' * `config_error`: a setting or input that retrying cannot fix (bad quality gate, a training
#'   script without `train()`, an unwritable bundle folder). The training entrypoint exits with
#'   the contract's `trainingConfigErrorExitCode` (2) on it. Subclasses:
#'   `quality_config_error`, `training_script_error`, `bundle_dir_error`, `bundle_input_error`.
#' * `retryable_error`: a failure that may pass on a later attempt (a full disk while writing a
#'   bundle: `bundle_io_error`). The training entrypoint exits 1.
#' * `bundle_error`: a bundle that cannot be served. Subclasses: `bundle_corrupt_error` (files
#'   missing, unreadable or not matching their checksums), `bundle_version_error` (another
#'   format version), `bundle_package_error` (a package the model needs is not installed).
#' * `mlflow_error`: an MLflow REST call failed; fields `status` (HTTP status) and `error_code`.
#'
#' @param message The condition message.
#' @param class Extra classes, most specific first.
#' @param ... Further fields stored in the condition.
#' @return A condition object, to be signalled with [stop()].
#' @examples
#' e <- config_error("QUALITY_DIRECTION must be higher or lower")
#' inherits(e, "config_error")
#' tryCatch(stop(e), config_error = function(e) conditionMessage(e))
#' @name rmlops_errors
NULL

#' @rdname rmlops_errors
#' @export
config_error <- function(message, class = character(), ...) {
  rmlops_condition(message, c(class, "config_error"), ...)
}

#' @rdname rmlops_errors
#' @export
retryable_error <- function(message, class = character(), ...) {
  rmlops_condition(message, c(class, "retryable_error"), ...)
}

#' @rdname rmlops_errors
#' @export
bundle_error <- function(message, class = character(), ...) {
  rmlops_condition(message, c(class, "bundle_error"), ...)
}

#' @rdname rmlops_errors
#' @param status HTTP status of the failed MLflow call, if any.
#' @param error_code MLflow's `error_code`, if any.
#' @export
mlflow_error <- function(message, status = NA_integer_, error_code = NA_character_) {
  rmlops_condition(message, "mlflow_error", status = status, error_code = error_code)
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# One JSON line on standard output. Strings that are not valid UTF-8 (a client's bytes in an
# error message) are written with their bad bytes as <xx>, so every line stays valid JSON.
log_line <- function(fields) {
  fields <- rapply(fields, utf8_text, classes = "character", how = "replace")
  cat(as.character(jsonlite::toJSON(fields, auto_unbox = TRUE, digits = NA, na = "null", null = "null")), "\n", sep = "")
}

utf8_text <- function(x) {
  bad <- !is.na(x) & !validUTF8(x)
  if (any(bad)) x[bad] <- iconv(x[bad], "UTF-8", "UTF-8", sub = "byte")
  x
}
