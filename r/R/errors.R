# Errors are conditions carrying the HTTP status they map to, so the HTTP layer can answer
# every failure in Seldon's status shape without guessing.

http_error <- function(message, code, reason, class) {
  structure(
    class = c(class, "http_error", "error", "condition"),
    list(message = message, call = NULL, code = as.integer(code), reason = reason)
  )
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
