# A small HTTP/1.1 server on base R sockets, written for keep-alive clients.
#
# Why not httpuv/plumber: httpuv writes the headers and the body of a response in two writes.
# On a persistent connection (the Seldon executor holds one) the second, small segment waits
# for the client's delayed ACK under Nagle: ~40 ms per request. Here every response is ONE
# writeBin() of headers + body, so there is never a small segment behind unacknowledged data,
# and accepted sockets set TCP_NODELAY.
#
# One thread serves every connection, so no client may block it: output is queued per
# connection and written only when socketSelect() reports the socket writable (a response is
# split only when it exceeds `write_chunk`); a connection with output pending is not read, so a
# pipelining client that never reads stops being served instead of stalling the loop. Idle
# connections are evicted, longest idle first, when the connection limit is reached, and a
# connection that sends no request head within `head_timeout` is closed.
#
# Supported: keep-alive and pipelining, Content-Length bodies, `Expect: 100-continue`,
# several concurrent connections multiplexed with socketSelect(), idle and slow-request
# timeouts. Refused: chunked bodies (501), POST without Content-Length (411), bodies over the
# limit (413, answered before the body is read), oversized or malformed heads (431/400),
# conflicting Content-Length values (400).
# A client's bad bytes close that connection only; the server keeps running.

http_reason <- c(
  "100" = "Continue", "200" = "OK", "400" = "Bad Request", "404" = "Not Found",
  "405" = "Method Not Allowed", "408" = "Request Timeout", "411" = "Length Required",
  "413" = "Payload Too Large", "415" = "Unsupported Media Type", "431" = "Request Header Fields Too Large",
  "500" = "Internal Server Error", "501" = "Not Implemented", "503" = "Service Unavailable"
)

http_server_options <- function(max_body = 5 * 1024^2, max_head = 16384L, idle_timeout = 120,
                                request_timeout = 30, head_timeout = 10, write_timeout = 10,
                                max_connections = 64L, tick = 0.25, max_drain = 64 * 1024^2,
                                write_chunk = 256 * 1024, socket_timeout = 1L) {
  list(max_body = max_body, max_head = max_head, idle_timeout = idle_timeout,
       request_timeout = request_timeout, head_timeout = head_timeout, write_timeout = write_timeout,
       max_connections = max_connections, tick = tick, max_drain = max_drain,
       write_chunk = write_chunk, socket_timeout = as.integer(socket_timeout))
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
    headers = stats::setNames(as.list(values), keys),
    # Every Content-Length value, from repeated headers and comma lists alike (RFC 9112 6.3).
    content_length = unique(trimws(unlist(strsplit(values[keys == "content-length"], ",", fixed = TRUE))))
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
  cl <- req$content_length
  if (length(cl) > 1L) {
    # Two framings of one message: a proxy and this server could disagree on where it ends.
    return(http_error(sprintf("conflicting Content-Length values: %s", paste(cl, collapse = ", ")), 400L,
                      "BAD_REQUEST", "bad_request"))
  }
  if (length(cl) == 0L) {
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
  state$out <- raw(0)
  state$accepted <- now
  state$last_active <- now
  state$last_write <- now
  state$heads <- 0L
  state$request_started <- NA_real_
  state$awaiting_body <- FALSE
  state$drain <- 0
  state$close_when_done <- FALSE
  state$sent_continue <- FALSE
  state$open <- TRUE
  state
}

# Queues bytes for the client and writes what the socket takes now. A response is queued
# whole, so when the socket is writable it leaves in one writeBin() (see the top of the file).
send_raw <- function(state, bytes, opts) {
  if (length(state$out) == 0L) {
    state$out <- bytes
    state$last_write <- now_seconds()
  } else {
    state$out <- c(state$out, bytes)
  }
  flush_output(state, opts)
}

socket_writable <- function(con) {
  isTRUE(tryCatch(socketSelect(list(con), write = TRUE, timeout = 0), error = function(e) FALSE))
}

# writeBin() on a socket cannot report a partial write: when the kernel buffer cannot take
# the bytes it waits up to the connection's timeout (whole seconds, set at accept) and then
# only warns. The byte stream is then out of sync, so the caller must close the connection.
write_all <- function(con, bytes) {
  ok <- TRUE
  withCallingHandlers(
    tryCatch(writeBin(bytes, con), error = function(e) ok <<- FALSE),
    warning = function(w) {
      ok <<- FALSE
      invokeRestart("muffleWarning")
    }
  )
  ok
}

# Writes pending output only while the socket reports writable, so a client that does not
# read cannot block the loop: its output waits, and process_buffer() stops taking its
# pipelined requests. Chunks bound how much one writeBin() can ask of a nearly full buffer.
flush_output <- function(state, opts) {
  while (state$open && length(state$out) > 0L && socket_writable(state$con)) {
    n <- min(length(state$out), opts$write_chunk)
    whole <- n == length(state$out)
    if (!write_all(state$con, if (whole) state$out else state$out[seq_len(n)])) {
      close_connection(state)
      return(invisible(FALSE))
    }
    state$out <- if (whole) raw(0) else state$out[-seq_len(n)]
    state$last_write <- now_seconds()
  }
  if (length(state$out) == 0L && state$close_when_done && state$drain <= 0) close_connection(state)
  invisible(state$open)
}

close_connection <- function(state) {
  if (isTRUE(state$closed)) return(invisible())
  state$closed <- TRUE
  state$open <- FALSE
  try(close(state$con), silent = TRUE)
}

# Answers a protocol-level error, then closes once the answer is out (and any body drained).
reject <- function(state, err, log, opts, method = "-", path = "-", started = now_seconds()) {
  body <- seldon_status_body(err$code, conditionMessage(err), err$reason)
  state$buf <- raw(0)
  state$request_started <- NA_real_
  state$close_when_done <- TRUE
  send_raw(state, format_response(err$code, body, keep_alive = FALSE), opts)
  log(method, path, err$code, started, NA_integer_)
}

now_seconds <- function() as.numeric(Sys.time())

bad_head <- function(message, code = 400L, reason = "BAD_REQUEST") http_error(message, code, reason, "bad_request")

# Processes the complete requests in the connection's buffer, one response at a time: it stops
# while a response is still waiting for the socket (back-pressure on pipelining clients).
process_buffer <- function(state, handler, opts, log) {
  repeat {
    if (!state$open || length(state$out) > 0L) return(invisible())
    if (state$drain > 0) {
      k <- min(state$drain, length(state$buf))
      state$drain <- state$drain - k
      state$buf <- if (k < length(state$buf)) state$buf[-seq_len(k)] else raw(0)
      if (state$drain > 0) return(invisible())
    }
    if (state$close_when_done) return(close_connection(state))
    state$awaiting_body <- FALSE
    if (length(state$buf) == 0L) { state$request_started <- NA_real_; return(invisible()) }
    if (is.na(state$request_started)) state$request_started <- now_seconds()
    end <- grepRaw(crlf2, state$buf, fixed = TRUE)
    if (length(end) == 0L) {
      if (length(state$buf) > opts$max_head) {
        reject(state, bad_head("request head too large", 431L, "HEADERS_TOO_LARGE"), log, opts)
      }
      return(invisible())
    }
    if (end > opts$max_head) {
      return(reject(state, bad_head("request head too large", 431L, "HEADERS_TOO_LARGE"), log, opts))
    }
    req <- parse_head(state$buf[seq_len(end - 1L)])
    if (is.null(req)) return(reject(state, bad_head("malformed HTTP request"), log, opts))
    len <- request_length(req, opts)
    if (inherits(len, "http_error")) {
      if (len$code == 413L) {
        reject_large_body(state, req, len, end, log, opts)
        next
      }
      return(reject(state, len, log, opts, req$method, req$path, state$request_started))
    }
    total <- end + 3L + len
    if (length(state$buf) < total) {
      state$awaiting_body <- TRUE
      expect <- tolower(req$headers[["expect"]] %||% "")
      if (expect == "100-continue" && !state$sent_continue) {
        state$sent_continue <- TRUE
        send_raw(state, charToRaw("HTTP/1.1 100 Continue\r\n\r\n"), opts)
      }
      return(invisible())
    }
    req$body <- if (len > 0) state$buf[(end + 4L):total] else raw(0)
    state$buf <- if (total < length(state$buf)) state$buf[-seq_len(total)] else raw(0)
    state$heads <- state$heads + 1L
    state$sent_continue <- FALSE
    started <- state$request_started
    state$request_started <- NA_real_
    keep_alive <- wants_keep_alive(req)
    if (!keep_alive) state$close_when_done <- TRUE
    res <- handle_safely(handler, req)
    send_raw(state, format_response(res$status, res$body, res$content_type %||% "application/json",
                                    keep_alive, res$headers %||% character()), opts)
    log(req$method, req$path, res$status, started, res$rows %||% NA_integer_)
  }
}

# Lingering close: read and discard the body so the client sees the 413, not a reset.
reject_large_body <- function(state, req, err, end, log, opts) {
  declared <- as.numeric(req$content_length)
  state$buf <- state$buf[-seq_len(end + 3L)]
  state$drain <- if (declared <= opts$max_drain) declared else 0
  started <- state$request_started
  state$request_started <- NA_real_
  state$close_when_done <- TRUE
  body <- seldon_status_body(err$code, conditionMessage(err), err$reason)
  send_raw(state, format_response(err$code, body, keep_alive = FALSE), opts)
  log(req$method, req$path, err$code, started, NA_integer_)
  invisible()
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

# Idle: nothing buffered, nothing to send, no request under way. Such a connection may be
# closed to make room for a new one (a probe must never be refused by idle sockets).
is_idle <- function(state) {
  state$open && length(state$buf) == 0L && length(state$out) == 0L && state$drain <= 0 &&
    is.na(state$request_started)
}

expire_connections <- function(conns, opts, now, log) {
  for (state in conns) {
    if (!state$open) next
    if (length(state$out) > 0L) {
      # A client that stopped reading: its output cannot go anywhere.
      if (now - state$last_write > opts$write_timeout) close_connection(state)
    } else if (!is.na(state$request_started)) {
      limit <- if (state$awaiting_body) opts$request_timeout else opts$head_timeout
      if (now - state$request_started > limit) {
        reject(state, http_error("request not completed in time", 408L, "REQUEST_TIMEOUT", "bad_request"), log, opts)
        close_connection(state)
      }
    } else if (state$heads == 0L && now - state$accepted > opts$head_timeout) {
      close_connection(state) # connected but never sent a request
    } else if (now - state$last_active > opts$idle_timeout) {
      close_connection(state)
    }
  }
}

# Makes room for a new connection: closes the one idle the longest. FALSE if none is idle.
evict_idle <- function(conns) {
  idle <- Filter(is_idle, conns)
  if (length(idle) == 0L) return(FALSE)
  oldest <- idle[[which.min(vapply(idle, function(s) s$last_active, 0))]]
  close_connection(oldest)
  TRUE
}

select_ready <- function(conns, listener, tick) {
  writing <- vapply(conns, function(s) length(s$out) > 0L, NA)
  socks <- c(list(listener), lapply(conns, function(s) s$con))
  ready <- tryCatch(socketSelect(socks, write = c(FALSE, writing), timeout = tick), error = function(e) NULL)
  if (is.null(ready)) {
    # select() interrupted (SIGCHLD from the model loader's child): nothing is ready this round.
    Sys.sleep(0.01)
    ready <- logical(length(socks))
  }
  list(listener = ready[[1L]], conns = ready[-1L], writing = writing)
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
    ready <- select_ready(conns, listener, opts$tick)
    now <- now_seconds()
    for (i in which(ready$conns)) {
      state <- conns[[i]]
      if (ready$writing[[i]]) flush_output(state, opts) else read_available(state, now)
      if (state$open) process_buffer(state, handler, opts, log)
    }
    if (ready$listener) {
      # no-delay too (R's socketOptions default is NULL): a response that a full socket buffer
      # splits into several writes must not wait on Nagle either. The timeout bounds how long
      # one writeBin() may wait on a buffer that the client does not empty (see write_all).
      con <- tryCatch(socketAccept(listener, blocking = FALSE, open = "a+b", timeout = opts$socket_timeout,
                                   options = "no-delay"),
                      error = function(e) NULL)
      if (!is.null(con)) {
        state <- new_connection(con, now)
        conns <- Filter(function(s) s$open, conns)
        if (length(conns) >= opts$max_connections && !evict_idle(conns)) {
          reject(state, not_ready("too many connections"), log, opts)
        }
        conns[[length(conns) + 1L]] <- state
      }
    }
    expire_connections(conns, opts, now, log)
    conns <- Filter(function(s) s$open, conns)
    on_tick()
  }
  invisible()
}
