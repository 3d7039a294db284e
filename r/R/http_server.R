# A small HTTP/1.1 server in R, written for keep-alive clients. The listening sockets are base R's
# serverSocket(); the clients' sockets are plain non-blocking descriptors that src/http.c
# accepts, polls, reads and writes (R's socket connections cost more per request than the HTTP
# work, and cannot report a partial write).
#
# Why not httpuv/plumber: httpuv writes the headers and the body of a response in two writes.
# On a persistent connection (the Seldon executor holds one) the second, small segment waits
# for the client's delayed ACK under Nagle: ~40 ms per request. Here every response is ONE
# send() of headers + body, so there is never a small segment behind unacknowledged data,
# and accepted sockets set TCP_NODELAY.
#
# One thread serves every connection of a process, so no client may block it: output is queued
# per connection and written as far as the socket takes it without waiting, the rest when poll()
# reports the socket writable; a connection with output pending is not read, so a pipelining
# client that never reads stops being served instead of stalling the loop. Every limit answers
# the client before closing (a 4xx/503 it can read), and a connection is closed by "lingering":
# the server stops writing, reads and discards what the client still sends until it closes or a
# short deadline passes, so the kernel never turns unread request bytes into a reset that
# destroys the answer.
#
# Capacity: up to `max_connections` ordinary connections. Above that, an idle keep-alive
# connection is closed to make room; if none is idle, the newcomer is accepted on probation
# (`overflow`, at most `max_overflow` of them): a health probe is answered normally, anything else
# gets a 503. So probes are answered whatever other clients hold, and a refusal is always a 503.
#
# The behaviour reference (methods, targets, limits, status codes) is docs/r-server.md.

http_reason <- c(
  "100" = "Continue", "200" = "OK", "204" = "No Content", "400" = "Bad Request", "404" = "Not Found",
  "405" = "Method Not Allowed", "408" = "Request Timeout", "411" = "Length Required",
  "413" = "Content Too Large", "415" = "Unsupported Media Type", "431" = "Request Header Fields Too Large",
  "500" = "Internal Server Error", "501" = "Not Implemented", "503" = "Service Unavailable",
  "505" = "HTTP Version Not Supported"
)

http_server_options <- function(max_body = 5 * 1024^2, max_head = 16384L, idle_timeout = 120,
                                request_timeout = 30, head_timeout = 10, write_timeout = 10,
                                max_connections = 64L, max_overflow = 32L, overflow_timeout = 1,
                                linger = 2, tick = 0.25, max_drain = 64 * 1024^2, drain_timeout = 5) {
  list(max_body = max_body, max_head = max_head, idle_timeout = idle_timeout,
       request_timeout = request_timeout, head_timeout = head_timeout, write_timeout = write_timeout,
       max_connections = as.integer(max_connections), max_overflow = as.integer(max_overflow),
       overflow_timeout = overflow_timeout, linger = linger, tick = tick, max_drain = max_drain,
       drain_timeout = drain_timeout)
}

# `head_only`: HEAD answers the headers of the GET response, Content-Length included, no body.
# Built in C (src/http.c) in one allocation: pasting the head and c() of two raw vectors showed
# up in every request's profile. It carries Date (RFC 9110 6.6.1: an origin server with a clock
# sends it), formatted once a second.
format_response <- function(status, body, content_type = "application/json", keep_alive = TRUE,
                            extra_headers = character(), head_only = FALSE) {
  if (!is.raw(body)) body <- as.character(body)
  .Call(C_rmlops_format_response, as.integer(status), http_reason, as.character(content_type), body,
        keep_alive, as.character(names(extra_headers)), as.character(extra_headers), head_only)
}

# A header line that needs no further check: token name, colon, then no control characters.
valid_header_line <- "^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\\x00-\\x08\\x0a-\\x1f\\x7f]*$"
host_syntax <- "^([A-Za-z0-9._~!$&'()*+,;=%-]*|\\[[0-9A-Fa-f:.]+\\])(:[0-9]*)?$"

# Parses the head (request line + headers). Returns an http_error condition when it is not
# valid HTTP/1.x (RFC 9112 2-5): the caller answers it and closes. The common case (an
# origin-form target, HTTP/1.0 or 1.1, well-formed headers) is recognised with a few vectorised
# checks; anything else goes through parse_head_strict(), which accepts the same requests and
# says what is wrong with the others.
parse_head <- function(head_raw) {
  # The plainest heads are parsed in C (src/http.c), which gives what parse_head_r() gives, or NULL.
  .Call(C_rmlops_parse_head, head_raw, length(head_raw)) %||% parse_head_r(head_raw)
}

parse_head_r <- function(head_raw) {
  if (any(head_raw == as.raw(0L) | head_raw > as.raw(0x7eL))) return(parse_head_strict(head_raw))
  lines <- strsplit(rawToChar(head_raw), "\r\n", fixed = TRUE, useBytes = TRUE)[[1L]]
  if (length(lines) == 0L) return(parse_head_strict(head_raw))
  rl <- strsplit(lines[[1L]], " ", fixed = TRUE, useBytes = TRUE)[[1L]]
  header_lines <- lines[-1L]
  if (length(rl) != 3L || !(rl[[3L]] %in% c("HTTP/1.1", "HTTP/1.0")) || !startsWith(rl[[2L]], "/") ||
      grepl("[^!-~]|#", rl[[2L]], perl = TRUE) || !grepl("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", rl[[1L]], perl = TRUE) ||
      !all(grepl(valid_header_line, header_lines, perl = TRUE, useBytes = TRUE))) {
    return(parse_head_strict(head_raw))
  }
  colon <- regexpr(":", header_lines, fixed = TRUE)
  keys <- tolower(substr(header_lines, 1L, colon - 1L))
  values <- gsub("^[ \t]+|[ \t]+$", "", substring(header_lines, colon + 1L), perl = TRUE, useBytes = TRUE)
  minor <- if (rl[[3L]] == "HTTP/1.1") 1L else 0L
  hosts <- values[keys == "host"]
  if (length(hosts) != minor || (minor == 1L && !grepl(host_syntax, hosts, perl = TRUE))) {
    return(parse_head_strict(head_raw))
  }
  target <- rl[[2L]]
  qpos <- regexpr("?", target, fixed = TRUE)
  cl <- values[keys == "content-length"]
  list(
    method = rl[[1L]],
    path = if (qpos > 0L) substr(target, 1L, qpos - 1L) else target,
    query = if (qpos > 0L) substring(target, qpos + 1L) else "",
    minor = minor,
    headers = stats::setNames(as.list(values), keys),
    content_length = if (length(cl)) unique(trimws(unlist(strsplit(cl, ",", fixed = TRUE)))) else character(),
    transfer_encoding = values[keys == "transfer-encoding"]
  )
}

parse_head_strict <- function(head_raw) {
  malformed <- function(what) bad_head(paste0("malformed HTTP request: ", what))
  if (any(head_raw == as.raw(0L))) return(malformed("NUL byte in the head"))
  # RFC 9110 5.5 obs-text: R's regular expressions fail on bytes that are not UTF-8, and no
  # header this server reads needs more than ASCII, so the head must be ASCII.
  if (any(head_raw > as.raw(0x7fL))) return(malformed("a byte outside ASCII in the head"))
  text <- rawToChar(head_raw)
  lines <- strsplit(text, "\r\n", fixed = TRUE)[[1L]]
  # RFC 9112 2.2: a server may skip empty lines before the request line.
  while (length(lines) > 0L && !nzchar(lines[[1L]])) lines <- lines[-1L]
  if (length(lines) == 0L) return(malformed("empty head"))
  m <- regmatches(lines[[1L]], regexec("^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([^ ]+) HTTP/([0-9])\\.([0-9])$", lines[[1L]]))[[1L]]
  if (length(m) != 5L) return(malformed("the request line must be '<method> <target> HTTP/1.1'"))
  if (m[[4L]] != "1") {
    return(http_error(sprintf("HTTP/%s.%s is not supported: use HTTP/1.1", m[[4L]], m[[5L]]), 505L,
                      "HTTP_VERSION_NOT_SUPPORTED", "bad_request"))
  }
  header_lines <- lines[-1L]
  # RFC 9112 5.2: obsolete line folding is refused; 2.2: so is a bare CR or another control character.
  if (any(grepl("^[ \t]", header_lines))) return(malformed("obsolete line folding in a header"))
  if (any(grepl("[\x01-\x08\x0a-\x1f\x7f]", header_lines, useBytes = TRUE))) {
    return(malformed("control character in a header"))
  }
  colon <- regexpr(":", header_lines, fixed = TRUE)
  if (any(colon < 2L)) return(malformed("a header line without 'name:'"))
  keys <- tolower(substr(header_lines, 1L, colon - 1L))
  # Includes RFC 9112 5.1: no whitespace between the field name and the colon.
  if (any(grepl("[^a-z0-9!#$%&'*+.^_`|~-]", keys))) return(malformed("invalid header field name"))
  values <- trimws(substring(header_lines, colon + 1L), whitespace = "[ \t]")
  minor <- as.integer(m[[5L]])
  hosts <- values[keys == "host"]
  # RFC 9112 3.2: exactly one valid Host in an HTTP/1.1 request.
  if (minor >= 1L && length(hosts) != 1L) {
    return(bad_head(if (length(hosts) == 0L) "missing Host header (required in HTTP/1.1)" else "more than one Host header"))
  }
  if (length(hosts) > 1L) return(bad_head("more than one Host header"))
  if (length(hosts) == 1L && !grepl(host_syntax, hosts, perl = TRUE)) {
    return(bad_head(sprintf("invalid Host header '%s'", hosts)))
  }
  target <- m[[3L]]
  method <- m[[2L]]
  # RFC 9112 3.2: origin-form, absolute-form (its path is used), asterisk-form for OPTIONS only.
  if (startsWith(target, "/")) {
    path_query <- target
  } else if (grepl("^[Hh][Tt][Tt][Pp][Ss]?://", target)) {
    rest <- sub("^[A-Za-z]+://[^/?]*", "", target)
    path_query <- if (startsWith(rest, "/")) rest else paste0("/", rest)
  } else if (target == "*" && method == "OPTIONS") {
    path_query <- "*"
  } else {
    return(bad_head(sprintf("request target '%s' must be a path such as /predict, or an absolute http URI",
                            substr(target, 1L, 200L))))
  }
  if (grepl("#", path_query, fixed = TRUE) || grepl("[^!-~]", path_query)) {
    return(bad_head("request target with a fragment or characters outside URI syntax"))
  }
  qpos <- regexpr("?", path_query, fixed = TRUE)
  list(
    method = method,
    path = if (qpos > 0L) substr(path_query, 1L, qpos - 1L) else path_query,
    query = if (qpos > 0L) substring(path_query, qpos + 1L) else "",
    minor = minor,
    headers = stats::setNames(as.list(values), keys),
    # Every Content-Length value, from repeated headers and comma lists alike (RFC 9112 6.3).
    content_length = unique(trimws(unlist(strsplit(values[keys == "content-length"], ",", fixed = TRUE)))),
    transfer_encoding = values[keys == "transfer-encoding"]
  )
}

wants_keep_alive <- function(req) {
  connection <- req$headers[["connection"]]
  if (is.null(connection)) return(req$minor != 0L)
  connection <- tolower(connection)
  if (req$minor == 0L) grepl("keep-alive", connection, fixed = TRUE) else !grepl("close", connection, fixed = TRUE)
}

# Content length of a request, or an http_error condition object describing why there is none.
request_length <- function(req, opts) {
  if (length(req$transfer_encoding %||% character()) > 0L) {
    if (length(req$content_length) > 0L || req$minor == 0L) {
      # RFC 9112 6.1/6.3: both framings, or a transfer coding in HTTP/1.0, is a smuggling vector.
      return(http_error("Transfer-Encoding together with Content-Length, or in HTTP/1.0, is refused", 400L,
                        "BAD_REQUEST", "bad_request"))
    }
    codings <- tolower(trimws(unlist(strsplit(req$transfer_encoding, ",", fixed = TRUE))))
    # RFC 9112 7.1: every recipient parses chunked; no other coding is supported.
    if (identical(codings, "chunked")) return(-1)
    return(http_error(sprintf("Transfer-Encoding '%s' is not supported: send the body with Content-Length or chunked",
                              paste(codings, collapse = ", ")), 501L, "NOT_IMPLEMENTED", "not_implemented"))
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
  if (!.Call(C_rmlops_is_digits, cl, 15L)) { # grepl("^[0-9]{1,15}$", cl), without a regex per request
    return(http_error(sprintf("invalid Content-Length '%s': expected digits only", substr(cl, 1L, 40L)), 400L,
                      "BAD_REQUEST", "bad_request"))
  }
  n <- as.numeric(cl)
  if (n > opts$max_body) {
    return(payload_too_large(sprintf("body of %.0f bytes exceeds the limit of %.0f bytes: send fewer rows per request",
                                     n, opts$max_body)))
  }
  n
}

# `con`: the client's socket descriptor (NULL in tests: nothing is ever written or read).
new_connection <- function(con, now, overflow = FALSE) {
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
  state$overflow <- overflow
  state$lingering <- FALSE
  state$linger_until <- NA_real_
  state$open <- TRUE
  state$more <- FALSE
  state$last_request <- FALSE
  state
}

# Queues bytes for the client and writes what the socket takes now. A response is queued
# whole, so when the socket has room it leaves in one send() (see the top of the file).
send_raw <- function(state, bytes, opts) {
  if (length(state$out) == 0L) {
    state$out <- bytes
    state$last_write <- now_seconds()
  } else {
    state$out <- c(state$out, bytes)
  }
  flush_output(state, opts)
}

# Writes as much pending output as the socket takes without waiting, so a client that does
# not read cannot block the loop: its output waits, and process_buffer() stops taking its
# pipelined requests.
flush_output <- function(state, opts) {
  if (state$open && length(state$out) > 0L) {
    sent <- .Call(C_rmlops_send, state$con, state$out)
    if (sent < 0) {
      close_connection(state) # reset by the client, or it went away
      return(invisible(FALSE))
    }
    if (sent > 0) {
      state$out <- if (sent == length(state$out)) raw(0) else state$out[-seq_len(sent)]
      state$last_write <- now_seconds()
    }
  }
  if (length(state$out) == 0L && state$close_when_done && state$drain <= 0) start_linger(state, opts)
  invisible(state$open)
}

# The answer is out and the connection is to end: keep reading (and discarding) until the
# client closes or `opts$linger` passes, so unread bytes never make the kernel send a reset.
start_linger <- function(state, opts) {
  if (state$lingering || !state$open) return(invisible())
  # Nothing unread: closing now sends a FIN, not a reset, and the client sees the end at once.
  pending <- .Call(C_rmlops_recv, state$con, 65536L)
  if (length(pending) == 0L) return(close_connection(state))
  state$lingering <- TRUE
  state$buf <- raw(0)
  state$linger_until <- now_seconds() + opts$linger
  invisible()
}

close_connection <- function(state) {
  if (isTRUE(state$closed)) return(invisible())
  state$closed <- TRUE
  state$open <- FALSE
  .Call(C_rmlops_close, state$con)
  invisible()
}

# Error bodies follow the protocol of the path: OIP v2 paths get {"error": ...}, others Seldon's.
error_body <- function(path, code, message, reason) {
  if (startsWith(path, "/v2")) v2_error_body(message) else seldon_status_body(code, message, reason)
}

# Answers a protocol-level error, then closes once the answer is out (and any body drained).
reject <- function(state, err, log, opts, method = "-", path = "-", started = NA_real_) {
  # Read before request_started is cleared below: the caller often passes state$request_started
  # itself, and a promise evaluated afterwards would give NA (a NaN duration in the metrics).
  if (is.na(started)) started <- if (is.na(state$request_started)) state$accepted else state$request_started
  body <- error_body(path, err$code, conditionMessage(err), err$reason)
  state$buf <- raw(0)
  state$request_started <- NA_real_
  state$close_when_done <- TRUE
  send_raw(state, format_response(err$code, body, keep_alive = FALSE, head_only = identical(method, "HEAD")), opts)
  log(method, path, err$code, started, NA_integer_)
}

# as.numeric(Sys.time()), read in C: Sys.time() builds a POSIXct, and the loop reads the clock
# several times a request.
now_seconds <- function() .Call(C_rmlops_now)

bad_head <- function(message, code = 400L, reason = "BAD_REQUEST") http_error(message, code, reason, "bad_request")

# Processes the complete requests in the connection's buffer, one response at a time: it stops
# while a response is still waiting for the socket (back-pressure on pipelining clients).
process_buffer <- function(state, handler, opts, log, server) {
  repeat {
    if (!state$open || state$lingering || length(state$out) > 0L) return(invisible())
    if (state$drain > 0) {
      k <- min(state$drain, length(state$buf))
      state$drain <- state$drain - k
      state$buf <- if (k < length(state$buf)) state$buf[-seq_len(k)] else raw(0)
      if (state$drain > 0) return(invisible())
    }
    if (state$close_when_done) return(start_linger(state, opts))
    state$more <- FALSE
    state$awaiting_body <- FALSE
    if (length(state$buf) == 0L) { state$request_started <- NA_real_; return(invisible()) }
    if (is.na(state$request_started)) state$request_started <- now_seconds()
    end <- .Call(C_rmlops_head_end, state$buf)
    if (end == 0L) {
      if (length(state$buf) > opts$max_head) {
        reject(state, bad_head("request head too large", 431L, "HEADERS_TOO_LARGE"), log, opts)
      }
      return(invisible())
    }
    if (end > opts$max_head) {
      return(reject(state, bad_head("request head too large", 431L, "HEADERS_TOO_LARGE"), log, opts))
    }
    req <- .Call(C_rmlops_parse_head, state$buf, end - 1L) %||% parse_head(state$buf[seq_len(end - 1L)])
    if (inherits(req, "http_error")) return(reject(state, req, log, opts))
    if (state$overflow && !(req$method %in% c("GET", "HEAD") && req$path %in% server$probe_paths)) {
      # Accepted above capacity: only a health probe is served (see the top of the file).
      return(reject(state, http_error(sprintf("too many connections (%d): retry shortly", opts$max_connections), 503L,
                                      "TOO_MANY_CONNECTIONS", "not_ready"), log, opts, req$method, req$path))
    }
    len <- request_length(req, opts)
    if (inherits(len, "http_error")) {
      if (len$code == 413L) {
        reject_large_body(state, req, len, end, log, opts)
        next
      }
      return(reject(state, len, log, opts, req$method, req$path, state$request_started))
    }
    chunked <- NULL
    if (identical(len, -1)) {
      chunked <- read_chunked(state$buf, end + 4L, opts$max_body)
      if (inherits(chunked, "http_error")) {
        return(reject(state, chunked, log, opts, req$method, req$path, state$request_started))
      }
    }
    total <- if (is.null(chunked)) end + 3L + len else chunked$consumed
    if (is.na(total) || length(state$buf) < total) {
      state$awaiting_body <- TRUE
      expect <- tolower(req$headers[["expect"]] %||% "")
      if (expect == "100-continue" && !state$sent_continue) {
        state$sent_continue <- TRUE
        send_raw(state, charToRaw("HTTP/1.1 100 Continue\r\n\r\n"), opts)
      }
      return(invisible())
    }
    req$body <- if (!is.null(chunked)) chunked$body else if (len > 0) state$buf[(end + 4L):total] else raw(0)
    state$buf <- if (total < length(state$buf)) state$buf[-seq_len(total)] else raw(0)
    state$heads <- state$heads + 1L
    state$sent_continue <- FALSE
    started <- state$request_started
    state$request_started <- NA_real_
    keep_alive <- wants_keep_alive(req) && !state$overflow && !server$draining && !state$last_request
    if (!keep_alive) state$close_when_done <- TRUE
    res <- handle_safely(handler, req)
    send_raw(state, format_response(res$status, res$body, res$content_type %||% "application/json",
                                    keep_alive, res$headers %||% character(), head_only = req$method == "HEAD"), opts)
    log(req$method, req$path, res$status, started, res$rows %||% NA_integer_, res$puid)
    # One request per connection per round: a client that pipelines hundreds of requests must
    # not keep the loop from other connections and new ones (probes); the rest waits a round.
    state$more <- length(state$buf) > 0L
    return(invisible())
  }
}

crlf <- charToRaw("\r\n")

# A chunked body (RFC 9112 7.1) starting at `pos` in `buf`: list(body, consumed) once complete
# (consumed: index of its last byte, trailers included), list(consumed = NA) while incomplete, or
# an http_error. Chunk extensions and trailer fields are read and ignored.
read_chunked <- function(buf, pos, max_body) {
  parts <- list()
  size_total <- 0
  n <- length(buf)
  line_at <- function(from) {
    if (from > n) return(NA_integer_)
    eol <- grepRaw(crlf, buf, offset = from, fixed = TRUE)
    if (length(eol) == 0L) {
      if (n - from > 4096L) return(-1L)
      return(NA_integer_)
    }
    eol
  }
  bad <- function(what) http_error(paste0("malformed chunked body: ", what), 400L, "BAD_REQUEST", "bad_request")
  repeat {
    eol <- line_at(pos)
    if (is.na(eol)) return(list(consumed = NA_integer_))
    if (eol < 0L) return(bad("chunk size line too long"))
    line_raw <- buf[seq.int(pos, length.out = eol - pos)]
    # Printable ASCII only (tab allowed): anything else is no chunk size, and R's regular
    # expressions must never see bytes that are not UTF-8.
    if (any((line_raw < as.raw(0x20L) & line_raw != as.raw(9L)) | line_raw > as.raw(0x7eL))) {
      return(bad("invalid chunk size line (a byte outside printable ASCII)"))
    }
    line <- rawToChar(line_raw)
    size_text <- sub("[ \t]*(;.*)?$", "", line)
    if (!grepl("^[0-9A-Fa-f]{1,8}$", size_text)) return(bad(sprintf("invalid chunk size '%s'", substr(line, 1L, 40L))))
    size <- strtoi(size_text, 16L)
    pos <- eol + 2L
    if (size == 0L) {
      repeat {
        eol <- line_at(pos)
        if (is.na(eol)) return(list(consumed = NA_integer_))
        if (eol < 0L) return(bad("trailer line too long"))
        if (eol == pos) break
        pos <- eol + 2L
      }
      body <- if (length(parts)) do.call(c, parts) else raw(0)
      return(list(body = body, consumed = eol + 1L))
    }
    size_total <- size_total + size
    if (size_total > max_body) {
      return(payload_too_large(sprintf("chunked body over the limit of %.0f bytes: send fewer rows per request", max_body)))
    }
    if (n < pos + size + 1L) return(list(consumed = NA_integer_))
    if (buf[[pos + size]] != as.raw(13L) || buf[[pos + size + 1L]] != as.raw(10L)) return(bad("chunk data not followed by CRLF"))
    parts[[length(parts) + 1L]] <- buf[seq.int(pos, length.out = size)]
    pos <- pos + size + 2L
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
  body <- error_body(req$path, err$code, conditionMessage(err), err$reason)
  send_raw(state, format_response(err$code, body, keep_alive = FALSE), opts)
  log(req$method, req$path, err$code, started, NA_integer_)
  invisible()
}

# A handler's bug or an unexpected condition becomes a logged 500, never a dead server.
# One handler for both kinds (an http_error is an error): each handler tryCatch() establishes is
# another layer of calls on every request.
handle_safely <- function(handler, req) {
  tryCatch(
    handler(req),
    error = function(e) {
      if (inherits(e, "http_error")) {
        return(list(status = e$code, body = error_body(req$path, e$code, conditionMessage(e), e$reason),
                    headers = e$headers, route = e$route))
      }
      log_line(list(level = "error", msg = "request failed", path = req$path, error = conditionMessage(e)))
      list(status = 500L, body = error_body(req$path, 500L, paste("internal error:", conditionMessage(e)),
                                            "MICROSERVICE_INTERNAL_ERROR"))
    }
  )
}

# One line per request, so it is built by hand: format(Sys.time(), tz = "UTC") and jsonlite took
# about 0.6 ms a request, more than a single-row predict(). The same fields and order as
# log_line() would write.
log_request <- function(method, path, status, started, rows, puid = NULL) {
  cat(sprintf('{"ts":"%s","method":%s,"path":%s,"status":%d,"duration_ms":%s,"rows":%s%s}\n',
              utc_timestamp_ms(), json_string(method), json_string(path), as.integer(status),
              format(round(max(0, now_seconds() - started, na.rm = TRUE) * 1000, 3)),
              if (is.na(rows)) "null" else as.character(as.integer(rows)),
              if (is.null(puid)) "" else paste0(',"puid":', json_values(puid))))
}

# Formatting a time in UTC is slow; the part up to the second changes once a second.
log_clock <- new.env(parent = emptyenv())
log_clock$second <- -1
log_clock$text <- ""

utc_timestamp_ms <- function(t = unclass(Sys.time())) {
  second <- floor(t)
  if (second != log_clock$second) {
    log_clock$second <- second
    log_clock$text <- format(.POSIXct(second, tz = "UTC"), "%Y-%m-%dT%H:%M:%S", tz = "UTC")
  }
  sprintf("%s.%03dZ", log_clock$text, min(999L, as.integer((t - second) * 1000)))
}

# Printable ASCII without quotes or backslashes needs no escaping; anything else goes through
# jsonlite.
json_string <- function(x) {
  if (grepl('[^ -~]|["\\\\]', x)) as.character(jsonlite::toJSON(x, auto_unbox = TRUE)) else paste0('"', x, '"')
}

read_available <- function(state, now) {
  chunk <- .Call(C_rmlops_recv, state$con, 262144L)
  if (is.null(chunk)) {
    close_connection(state) # EOF or reset by the client
    return(invisible())
  }
  if (length(chunk) > 0L && !state$lingering) {
    state$buf <- c(state$buf, chunk)
    state$last_active <- now
  }
}

# Idle: a keep-alive connection between requests (at least one answered, nothing buffered,
# nothing to send, no request under way). Such a connection may be closed to make room for a
# new one (a probe must never be refused by idle sockets). A connection that has not sent its
# first request yet is not idle: its client is about to speak, and closing it would lose that
# request unanswered (RFC 9112 9.6 allows closing idle connections only).
is_idle <- function(state) state$heads > 0L && is_quiet(state)

# Nothing buffered, nothing to send, no request under way (a server that stops may close it).
is_quiet <- function(state) {
  state$open && !state$lingering && length(state$buf) == 0L && length(state$out) == 0L && state$drain <= 0 &&
    is.na(state$request_started)
}

expire_connections <- function(conns, opts, now, log) {
  for (state in conns) {
    if (!state$open) next
    if (state$lingering) {
      if (now > state$linger_until) close_connection(state)
    } else if (length(state$out) > 0L) {
      # A client that stopped reading: its output cannot go anywhere.
      if (now - state$last_write > opts$write_timeout) close_connection(state)
    } else if (state$overflow && now - state$accepted > opts$overflow_timeout) {
      reject(state, http_error(sprintf("too many connections (%d): retry shortly", opts$max_connections), 503L,
                               "TOO_MANY_CONNECTIONS", "not_ready"), log, opts)
    } else if (!is.na(state$request_started)) {
      limit <- if (state$awaiting_body) opts$request_timeout else opts$head_timeout
      if (now - state$request_started > limit) {
        reject(state, http_error("request not completed in time", 408L, "REQUEST_TIMEOUT", "bad_request"), log, opts)
      }
    } else if (state$heads == 0L && now - state$accepted > opts$head_timeout) {
      reject(state, http_error("no request received in time", 408L, "REQUEST_TIMEOUT", "bad_request"), log, opts)
    } else if (now - state$last_active > opts$idle_timeout) {
      close_connection(state) # an idle keep-alive connection may be closed (RFC 9112 9.6)
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

# ---- the server: listeners, connections, the loop ------------------------------------------

# `probe_paths`: answered even on connections accepted above capacity.
new_http_server <- function(opts = http_server_options(), log = log_request, probe_paths = character()) {
  server <- new.env(parent = emptyenv())
  server$opts <- opts
  server$log <- log
  server$probe_paths <- probe_paths
  server$listeners <- list()
  server$conns <- list()
  server$draining <- FALSE
  server$drain_deadline <- NA_real_
  server$may_accept <- function() TRUE
  server$after_round <- function() NULL
  server
}

# Binds `port` on all interfaces; a port that cannot be bound is a configuration error.
bind_port <- function(port) {
  socket <- tryCatch(serverSocket(port), error = function(e) {
    stop(config_error(sprintf("cannot listen on port %d: %s", as.integer(port), conditionMessage(e))))
  }, warning = function(w) {
    stop(config_error(sprintf("cannot listen on port %d: %s", as.integer(port), conditionMessage(w))))
  })
  attr(socket, "port") <- as.integer(port)
  socket
}

# `socket`: a serverSocket() from bind_port(). The loop polls and accepts on its descriptor,
# made non-blocking, so an accept() never waits for a connection another worker has taken.
add_listener <- function(server, socket, handler, name) {
  fd <- listener_nonblocking(attr(socket, "port"))
  if (fd < 0L) stop(config_error(sprintf("cannot find the listening socket of port %d", attr(socket, "port"))))
  server$listeners[[name]] <- list(socket = socket, fd = fd, handler = handler, active = TRUE)
  invisible(server)
}

# Stops accepting on a listener and ends its connections once their answers are out.
retire_listener <- function(server, name) {
  server$listeners[[name]]$active <- FALSE
  for (s in server$conns) if (identical(s$listener, name)) end_gracefully(s, server$opts)
  invisible(server)
}

# Idle: closed now. A request partly received: answered (with Connection: close), then closed.
# An answer still going out: closed once it is out.
end_gracefully <- function(state, opts) {
  if (!state$open) return(invisible())
  if (is_quiet(state)) {
    close_connection(state)
  } else if (length(state$buf) > 0L || !is.na(state$request_started)) {
    state$last_request <- TRUE
  } else {
    state$close_when_done <- TRUE
  }
  invisible()
}

# Stop accepting, let every request under way finish (answered with Connection: close), close
# idle connections; the loop ends once none is left or `opts$drain_timeout` has passed.
start_draining <- function(server) {
  if (server$draining) return(invisible())
  server$draining <- TRUE
  server$drain_deadline <- now_seconds() + server$opts$drain_timeout
  for (s in server$conns) end_gracefully(s, server$opts)
  invisible()
}

drained <- function(server) {
  server$draining && (length(Filter(function(s) s$open && !s$lingering, server$conns)) == 0L ||
                        now_seconds() > server$drain_deadline)
}

close_all <- function(server, listeners = TRUE) {
  for (s in server$conns) close_connection(s)
  server$conns <- list()
  if (listeners) for (l in server$listeners) try(close(l$socket), silent = TRUE)
  invisible()
}

accept_connection <- function(server, name, now) {
  opts <- server$opts
  listener <- server$listeners[[name]]
  # The listener is non-blocking: another worker may have taken the connection, and accept()
  # then fails at once.
  con <- .Call(C_rmlops_accept, listener$fd)
  if (con < 0L) return(invisible())
  conns <- open_connections(server$conns)
  regular <- sum(vapply(conns, function(s) !s$overflow, NA))
  overflow <- FALSE
  if (regular >= opts$max_connections && !evict_idle(conns)) overflow <- TRUE
  state <- new_connection(con, now, overflow)
  state$listener <- name
  if (overflow && length(conns) - regular >= opts$max_overflow) {
    reject(state, http_error(sprintf("too many connections (%d): retry shortly", opts$max_connections), 503L,
                             "TOO_MANY_CONNECTIONS", "not_ready"), server$log, opts)
  }
  conns[[length(conns) + 1L]] <- state
  server$conns <- conns
  server$accepted <- (server$accepted %||% 0L) + 1L
  invisible()
}

open_connections <- function(conns) {
  open <- logical(length(conns))
  for (i in seq_along(conns)) open[[i]] <- conns[[i]]$open
  if (all(open)) conns else conns[open]
}

# process_buffer() with a last line of defence: an R error in the protocol code (a bug, since
# every client mistake is an http_error answered inside) ends this connection with a 500 and a
# log line, never the process and the other clients' connections.
serve_buffer <- function(state, server) {
  tryCatch(
    process_buffer(state, server$listeners[[state$listener]]$handler, server$opts, server$log, server),
    error = function(e) {
      log_line(list(level = "error", msg = "request handling failed: connection closed", error = conditionMessage(e)))
      if (!state$open) return(invisible())
      state$out <- raw(0)
      tryCatch(reject(state, http_error("internal error while reading the request", 500L, "MICROSERVICE_INTERNAL_ERROR",
                                        "internal"), server$log, server$opts),
               error = function(e2) close_connection(state))
    }
  )
}

# One round: wait up to `tick` for socket events, serve them, expire connections.
serve_once <- function(server) {
  opts <- server$opts
  conns <- server$conns
  may <- server$draining || server$may_accept()
  # Plain loops rather than Filter() or vapply(): this runs every round, and their own calls
  # showed in the profiles of single requests.
  active <- character()
  listener_fds <- integer()
  if (may && !server$draining && length(conns) < opts$max_connections + opts$max_overflow) {
    for (name in names(server$listeners)) {
      l <- server$listeners[[name]]
      if (l$active) {
        active <- c(active, name)
        listener_fds <- c(listener_fds, l$fd)
      }
    }
  } # else, above every limit: connections wait in the kernel's backlog.
  n <- length(conns)
  writing <- logical(n)
  # Requests already buffered are served without waiting for new bytes, and such a connection is
  # not read meanwhile: its buffer stays small, and a pipelining client feels TCP back-pressure.
  more <- logical(n)
  fds <- integer(n)
  for (i in seq_len(n)) {
    s <- conns[[i]]
    writing[[i]] <- length(s$out) > 0L
    more[[i]] <- s$more && !writing[[i]]
    fds[[i]] <- s$con
  }
  sel <- which(writing | !more)
  socks <- c(listener_fds, fds[sel])
  nl <- length(active)
  # A worker left out of accepting this round looks again soon: another may have just given up the lock.
  wait <- if (any(more)) 0 else if (!may) min(opts$tick, 0.005) else opts$tick
  ready <- if (length(socks) == 0L) {
    Sys.sleep(wait)
    logical(0)
  } else {
    .Call(C_rmlops_poll, socks, c(logical(nl), writing[sel]), wait)
  }
  # NULL: poll() interrupted by a signal (SIGCHLD of a worker or loader, SIGTERM): nothing
  # is ready this round; the caller looks at the signal.
  if (is.null(ready)) ready <- logical(length(socks))
  now <- now_seconds()
  conn_ready <- logical(length(conns))
  conn_ready[sel] <- if (nl > 0L) ready[-seq_len(nl)] else ready
  for (i in which(conn_ready | more)) {
    state <- conns[[i]]
    if (conn_ready[[i]]) {
      if (writing[[i]]) flush_output(state, opts) else read_available(state, now)
    }
    if (state$open) serve_buffer(state, server)
  }
  for (i in which(ready[seq_len(nl)])) accept_connection(server, active[[i]], now)
  expire_connections(server$conns, opts, now, server$log)
  server$conns <- open_connections(server$conns)
  invisible()
}

# Runs until `should_stop()` is TRUE, or until a stop signal has drained the server.
# `on_tick()` runs between socket events at least every `opts$tick` seconds.
run_server <- function(server, on_tick = function() NULL, should_stop = function() FALSE,
                       on_signal = function(sig) start_draining(server)) {
  while (!should_stop()) {
    sig <- signal_pending()
    if (sig > 0L && !server$draining) on_signal(sig)
    if (drained(server)) break
    serve_once(server)
    server$after_round()
    on_tick()
  }
  invisible()
}

# A single-process server on `port` (the tests' and the loader phase's building block).
http_serve <- function(port, handler, opts = http_server_options(), on_tick = function() NULL,
                       should_stop = function() FALSE, log = log_request, probe_paths = character()) {
  server <- new_http_server(opts, log, probe_paths)
  add_listener(server, bind_port(port), handler, "http")
  on.exit(close_all(server), add = TRUE)
  run_server(server, on_tick, should_stop)
}
