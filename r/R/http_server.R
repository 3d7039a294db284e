# A small HTTP/1.1 server on base R sockets, written for keep-alive clients.
#
# Why not httpuv/plumber: httpuv writes the headers and the body of a response in two writes.
# On a persistent connection (the Seldon executor holds one) the second, small segment waits
# for the client's delayed ACK under Nagle: ~40 ms per request. Here every response is ONE
# writeBin() of headers + body, so there is never a small segment behind unacknowledged data,
# and accepted sockets set TCP_NODELAY.
#
# Supported: keep-alive and pipelining, Content-Length bodies, `Expect: 100-continue`,
# several concurrent connections multiplexed with socketSelect(), idle and slow-request
# timeouts. Refused: chunked bodies (501), POST without Content-Length (411), bodies over the
# limit (413, answered before the body is read), oversized or malformed heads (431/400).
# A client's bad bytes close that connection only; the server keeps running.

http_reason <- c(
  "100" = "Continue", "200" = "OK", "400" = "Bad Request", "404" = "Not Found",
  "405" = "Method Not Allowed", "408" = "Request Timeout", "411" = "Length Required",
  "413" = "Payload Too Large", "415" = "Unsupported Media Type", "431" = "Request Header Fields Too Large",
  "500" = "Internal Server Error", "501" = "Not Implemented", "503" = "Service Unavailable"
)

http_server_options <- function(max_body = 5 * 1024^2, max_head = 16384L, idle_timeout = 120,
                                request_timeout = 30, max_connections = 64L, tick = 0.25,
                                max_drain = 64 * 1024^2) {
  list(max_body = max_body, max_head = max_head, idle_timeout = idle_timeout,
       request_timeout = request_timeout, max_connections = max_connections, tick = tick,
       max_drain = max_drain)
}

crlf2 <- charToRaw("\r\n\r\n")

format_response <- function(status, body, content_type = "application/json", keep_alive = TRUE,
                            extra_headers = character()) {
  body_raw <- if (is.raw(body)) body else charToRaw(enc2utf8(body))
  reason <- http_reason[[as.character(status)]] %||% "Unknown"
  head <- paste0(
    "HTTP/1.1 ", status, " ", reason, "\r\n",
    "Content-Type: ", content_type, "\r\n",
    "Content-Length: ", length(body_raw), "\r\n",
    if (keep_alive) "Connection: keep-alive\r\n" else "Connection: close\r\n",
    if (length(extra_headers)) paste0(names(extra_headers), ": ", extra_headers, "\r\n", collapse = "") else "",
    "\r\n"
  )
  c(charToRaw(head), body_raw)
}

# Parses the head (request line + headers). Returns NULL if it is not valid HTTP/1.x.
parse_head <- function(head_raw) {
  if (any(head_raw == as.raw(0L))) return(NULL)
  text <- rawToChar(head_raw)
  lines <- strsplit(text, "\r\n", fixed = TRUE)[[1L]]
  if (length(lines) == 0L) return(NULL)
  m <- regmatches(lines[[1L]], regexec("^([A-Z]+) (\\S+) HTTP/1\\.([01])$", lines[[1L]]))[[1L]]
  if (length(m) != 4L) return(NULL)
  header_lines <- lines[-1L]
  colon <- regexpr(":", header_lines, fixed = TRUE)
  if (any(colon < 2L)) return(NULL)
  keys <- tolower(substr(header_lines, 1L, colon - 1L))
  if (any(grepl("[^a-z0-9!#$%&'*+.^_`|~-]", keys))) return(NULL)
  values <- trimws(substring(header_lines, colon + 1L))
  target <- m[[3L]]
  qpos <- regexpr("?", target, fixed = TRUE)
  list(
    method = m[[2L]],
    path = if (qpos > 0L) substr(target, 1L, qpos - 1L) else target,
    query = if (qpos > 0L) substring(target, qpos + 1L) else "",
    minor = as.integer(m[[4L]]),
    headers = stats::setNames(as.list(values), keys)
  )
}

wants_keep_alive <- function(req) {
  connection <- tolower(req$headers[["connection"]] %||% "")
  if (req$minor == 0L) grepl("keep-alive", connection, fixed = TRUE) else !grepl("close", connection, fixed = TRUE)
}

# Content length of a request, or an http_error condition object describing why there is none.
request_length <- function(req, opts) {
  if (!is.null(req$headers[["transfer-encoding"]])) {
    return(http_error("Transfer-Encoding is not supported: send the body with Content-Length", 501L,
                      "NOT_IMPLEMENTED", "not_implemented"))
  }
  cl <- req$headers[["content-length"]]
  if (is.null(cl)) {
    if (req$method %in% c("POST", "PUT", "PATCH")) {
      return(http_error("Content-Length is required for a request body", 411L, "LENGTH_REQUIRED", "length_required"))
    }
    return(0)
  }
  if (!grepl("^[0-9]{1,15}$", cl)) {
    return(http_error(sprintf("invalid Content-Length '%s'", cl), 400L, "BAD_REQUEST", "bad_request"))
  }
  n <- as.numeric(cl)
  if (n > opts$max_body) {
    return(payload_too_large(sprintf("body of %.0f bytes exceeds the limit of %.0f bytes: send fewer rows per request",
                                     n, opts$max_body)))
  }
  n
}

new_connection <- function(con, now) {
  state <- new.env(parent = emptyenv())
  state$con <- con
  state$buf <- raw(0)
  state$last_active <- now
  state$request_started <- NA_real_
  state$drain <- 0
  state$close_after_drain <- FALSE
  state$sent_continue <- FALSE
  state$open <- TRUE
  state
}

send_raw <- function(state, bytes) {
  tryCatch(writeBin(bytes, state$con), error = function(e) state$open <- FALSE)
}

close_connection <- function(state) {
  if (isTRUE(state$closed)) return(invisible())
  state$closed <- TRUE
  state$open <- FALSE
  try(close(state$con), silent = TRUE)
}

# Answers a protocol-level error and closes (or drains, then closes) the connection.
reject <- function(state, err, log, method = "-", path = "-", started = now_seconds()) {
  body <- seldon_status_body(err$code, conditionMessage(err), err$reason)
  send_raw(state, format_response(err$code, body, keep_alive = FALSE))
  log(method, path, err$code, started, NA_integer_)
  state$buf <- raw(0)
  if (state$drain <= 0) close_connection(state) else state$close_after_drain <- TRUE
}

now_seconds <- function() as.numeric(Sys.time())

# Processes every complete request in the connection's buffer.
process_buffer <- function(state, handler, opts, log) {
  repeat {
    if (!state$open) return(invisible())
    if (state$drain > 0) {
      k <- min(state$drain, length(state$buf))
      state$drain <- state$drain - k
      state$buf <- if (k < length(state$buf)) state$buf[-seq_len(k)] else raw(0)
      if (state$drain > 0) return(invisible())
      if (state$close_after_drain) return(close_connection(state))
    }
    if (length(state$buf) == 0L) { state$request_started <- NA_real_; return(invisible()) }
    if (is.na(state$request_started)) state$request_started <- now_seconds()
    end <- grepRaw(crlf2, state$buf, fixed = TRUE)
    if (length(end) == 0L) {
      if (length(state$buf) > opts$max_head) {
        reject(state, http_error("request head too large", 431L, "HEADERS_TOO_LARGE", "bad_request"), log)
      }
      return(invisible())
    }
    if (end > opts$max_head) {
      return(reject(state, http_error("request head too large", 431L, "HEADERS_TOO_LARGE", "bad_request"), log))
    }
    req <- parse_head(state$buf[seq_len(end - 1L)])
    if (is.null(req)) {
      return(reject(state, http_error("malformed HTTP request", 400L, "BAD_REQUEST", "bad_request"), log))
    }
    len <- request_length(req, opts)
    if (inherits(len, "http_error")) {
      if (len$code == 413L && !is.null(req$headers[["content-length"]])) {
        # Lingering close: read and discard the body so the client sees the 413, not a reset.
        declared <- as.numeric(req$headers[["content-length"]])
        state$buf <- state$buf[-seq_len(end + 3L)]
        state$drain <- if (declared <= opts$max_drain) declared else 0
        body <- seldon_status_body(len$code, conditionMessage(len), len$reason)
        send_raw(state, format_response(len$code, body, keep_alive = FALSE))
        log(req$method, req$path, len$code, state$request_started, NA_integer_)
        state$request_started <- NA_real_
        if (state$drain > 0) { state$close_after_drain <- TRUE; next }
        return(close_connection(state))
      }
      return(reject(state, len, log, req$method, req$path, state$request_started))
    }
    total <- end + 3L + len
    if (length(state$buf) < total) {
      expect <- tolower(req$headers[["expect"]] %||% "")
      if (expect == "100-continue" && !state$sent_continue) {
        send_raw(state, charToRaw("HTTP/1.1 100 Continue\r\n\r\n"))
        state$sent_continue <- TRUE
      }
      return(invisible())
    }
    req$body <- if (len > 0) state$buf[(end + 4L):total] else raw(0)
    state$buf <- if (total < length(state$buf)) state$buf[-seq_len(total)] else raw(0)
    state$sent_continue <- FALSE
    started <- state$request_started
    state$request_started <- NA_real_
    keep_alive <- wants_keep_alive(req)
    res <- handle_safely(handler, req)
    send_raw(state, format_response(res$status, res$body, res$content_type %||% "application/json",
                                    keep_alive, res$headers %||% character()))
    log(req$method, req$path, res$status, started, res$rows %||% NA_integer_)
    if (!keep_alive) return(close_connection(state))
  }
}

# A handler's bug or an unexpected condition becomes a logged 500, never a dead server.
handle_safely <- function(handler, req) {
  tryCatch(
    handler(req),
    http_error = function(e) {
      list(status = e$code, body = seldon_status_body(e$code, conditionMessage(e), e$reason))
    },
    error = function(e) {
      log_line(list(level = "error", msg = "request failed", path = req$path, error = conditionMessage(e)))
      list(status = 500L, body = seldon_status_body(500L, paste("internal error:", conditionMessage(e)),
                                                    "MICROSERVICE_INTERNAL_ERROR"))
    }
  )
}

log_line <- function(fields) {
  cat(as.character(jsonlite::toJSON(fields, auto_unbox = TRUE, digits = NA, na = "null")), "\n", sep = "")
}

log_request <- function(method, path, status, started, rows) {
  log_line(list(
    ts = format(Sys.time(), "%Y-%m-%dT%H:%M:%OS3Z", tz = "UTC"), method = method, path = path,
    status = as.integer(status), duration_ms = round((now_seconds() - started) * 1000, 3),
    rows = if (is.na(rows)) NA_integer_ else as.integer(rows)
  ))
}

read_available <- function(state, now) {
  chunk <- tryCatch(readBin(state$con, "raw", n = 262144L), error = function(e) NULL)
  if (is.null(chunk) || (length(chunk) == 0L && !isIncomplete(state$con))) {
    close_connection(state) # EOF or reset by the client
    return(invisible())
  }
  if (length(chunk) > 0L) {
    state$buf <- c(state$buf, chunk)
    state$last_active <- now
  }
}

expire_connections <- function(conns, opts, now, log) {
  for (state in conns) {
    if (!is.na(state$request_started) && now - state$request_started > opts$request_timeout) {
      reject(state, http_error("request not completed in time", 408L, "REQUEST_TIMEOUT", "bad_request"), log)
      close_connection(state)
    } else if (now - state$last_active > opts$idle_timeout) {
      close_connection(state)
    }
  }
}

# Runs until `should_stop()` is TRUE. `on_tick()` runs between socket events at least every
# `opts$tick` seconds (the model loader uses it, so the server answers probes while loading).
http_serve <- function(port, handler, opts = http_server_options(), on_tick = function() NULL,
                       should_stop = function() FALSE, log = log_request) {
  listener <- serverSocket(port)
  on.exit(close(listener), add = TRUE)
  conns <- list()
  on.exit(for (s in conns) close_connection(s), add = TRUE)
  while (!should_stop()) {
    socks <- c(list(listener), lapply(conns, function(s) s$con))
    ready <- socketSelect(socks, write = FALSE, timeout = opts$tick)
    now <- now_seconds()
    for (i in which(ready[-1L])) {
      state <- conns[[i]]
      read_available(state, now)
      if (state$open) process_buffer(state, handler, opts, log)
    }
    if (ready[[1L]]) {
      # no-delay too (R's socketOptions default is NULL): a response that a full socket buffer
      # splits into several writes must not wait on Nagle either.
      con <- tryCatch(socketAccept(listener, blocking = FALSE, open = "a+b", options = "no-delay"),
                      error = function(e) NULL)
      if (!is.null(con)) {
        state <- new_connection(con, now)
        if (length(conns) >= opts$max_connections) {
          reject(state, not_ready("too many connections"), log)
        } else {
          conns[[length(conns) + 1L]] <- state
        }
      }
    }
    expire_connections(conns, opts, now, log)
    conns <- Filter(function(s) !isTRUE(s$closed), conns)
    on_tick()
  }
  invisible()
}
