# The Seldon Core v1 message codec: strict parsing of a prediction request into a data frame
# whose columns have the types the bundle's example gave them, and encoding of predictions.
# Anything that does not fit is a `bad_request` naming what was wrong and what is expected.

# JSON nesting deeper than this is rejected before parsing: a valid request is at most
# {"data":{"ndarray":[[...]]}} (depth 3), and a deep bracket bomb must not reach the parser.
max_json_depth <- 16L

type_placeholder <- c(numeric = "<number>", integer = "<integer>", logical = "<true|false>",
                      factor = "\"<level>\"", character = "\"<string>\"")

example_request <- function(spec) {
  types <- vapply(spec$features, function(f) f$type, "")
  sprintf('{"data":{"names":[%s],"ndarray":[[%s]]}}',
          paste0('"', spec$feature_names, '"', collapse = ","),
          paste(type_placeholder[types], collapse = ","))
}

# What the codec needs from a bundle: the features (name, type, levels) and their names.
input_spec <- function(features) {
  list(features = features, feature_names = vapply(features, function(f) f$name, ""),
       all_numeric = all(vapply(features, function(f) identical(f$type, "numeric"), NA)))
}

# Counts brackets and braces, ignoring that some may sit inside strings: that can only
# overestimate depth, so a real request is never let through too deep. Only the bracket
# characters are kept before counting, which keeps this cheap on a large batch.
json_depth_exceeds <- function(text, limit) {
  brackets <- utf8ToInt(gsub("[^][{}]+", "", text, perl = TRUE))
  if (length(brackets) == 0L) return(FALSE)
  max(cumsum((brackets == 91L | brackets == 123L) - (brackets == 93L | brackets == 125L))) > limit
}

parse_json_body <- function(body, spec, example = example_request(spec)) {
  if (length(body) == 0L) {
    stop(bad_request(paste("empty body: expected JSON such as", example)))
  }
  if (any(body == as.raw(0L))) stop(bad_request("body contains NUL bytes: expected UTF-8 JSON"))
  text <- rawToChar(body)
  Encoding(text) <- "UTF-8"
  if (!validUTF8(text)) stop(bad_request("body is not valid UTF-8: expected UTF-8 JSON"))
  if (json_depth_exceeds(text, max_json_depth)) {
    stop(bad_request(sprintf("JSON nested deeper than %d levels: expected data.ndarray as rows x features", max_json_depth)))
  }
  # Only text rm_json_check() (src/wire.c) accepts reaches jsonlite: jsonlite 1.8.4 passes the
  # input quoted in its parse errors to R as a format string, so a malformed body holding "%s"
  # or "%n" would crash the process. The message names a byte offset, never the client's bytes.
  problem <- json_problem(body)
  if (!is.null(problem)) stop(bad_request(sprintf("malformed JSON (%s): expected JSON such as %s", problem, example)))
  tryCatch(
    jsonlite::parse_json(text, simplifyVector = FALSE),
    error = function(e) {
      stop(bad_request(sprintf("malformed JSON (%s): expected JSON such as %s",
                               first_line(conditionMessage(e)), example)))
    }
  )
}

# NULL when `body` (raw) is one RFC 8259 JSON text no deeper than max_json_depth, else what is
# wrong and where.
json_problem <- function(body) .Call(C_rmlops_json_check, body, max_json_depth)

first_line <- function(x) {
  x <- strsplit(trimws(x), "\n", fixed = TRUE)[[1]]
  if (length(x) == 0L) "" else trimws(x[[1]])
}

is_json_object <- function(x) is.list(x) && !is.null(names(x))
is_json_array <- function(x) is.list(x) && is.null(names(x))

json_type <- function(x) {
  if (is.null(x)) return("null")
  if (is_json_object(x)) return("object")
  if (is.list(x)) return("array")
  if (is.logical(x)) return("boolean")
  if (is.character(x)) return("string")
  if (is.numeric(x)) return("number")
  typeof(x)
}

# Parses a raw request body into a data frame with the spec's columns, in its order and types.
# For an all-numeric model, the plain message {"data":{"names":[...],"ndarray":[...]}} is read
# by C in one pass (src/http.c, rmlops_decode_seldon); a large batch in any other message has
# its data.ndarray read by C (src/process.c, rmlops_parse_rows) and the rest by jsonlite.
# Whatever those paths do not take, the strict parser below reads and explains.
decode_request <- function(body, spec) {
  if (spec$all_numeric) {
    fast <- .Call(C_rmlops_decode_seldon, body, spec$feature_names)
    if (!is.null(fast)) return(fast)
    if (length(body) > 4096L) {
      fast <- tryCatch(decode_rows_fast(body, spec), error = function(e) NULL)
      if (!is.null(fast)) return(fast)
    }
  }
  decode_strict(body, spec)
}

decode_rows_fast <- function(body, spec) {
  if (!is.null(json_problem(body))) return(NULL)
  text <- rawToChar(body)
  Encoding(text) <- "UTF-8"
  if (!validUTF8(text) || json_depth_exceeds(text, max_json_depth)) return(NULL)
  # "ndarray" exactly once, so the span found is the value of data.ndarray once checked below.
  at <- gregexpr('"ndarray"', text, fixed = TRUE)[[1L]]
  if (length(at) != 1L || at[[1L]] < 0L) return(NULL)
  after <- substring(text, at[[1L]] + 9L)
  colon <- regexpr("^[ \t\r\n]*:[ \t\r\n]*", after, perl = TRUE)
  if (colon < 0L) return(NULL)
  value <- substring(after, attr(colon, "match.length") + 1L)
  end <- regexpr("\\][ \t\r\n]*\\]", value, perl = TRUE)
  if (end < 0L) return(NULL)
  span_len <- end + attr(end, "match.length") - 1L
  values <- .Call(C_rmlops_parse_rows, substr(value, 1L, span_len), length(spec$feature_names))
  if (is.null(values)) return(NULL)
  prefix_len <- nchar(text) - nchar(value)
  rest <- paste0(substr(text, 1L, prefix_len), "0", substring(value, span_len + 1L))
  msg <- jsonlite::parse_json(rest, simplifyVector = FALSE)
  data <- msg[["data"]]
  if (!is_json_object(msg) || anyDuplicated(names(msg)) || !is_json_object(data) || anyDuplicated(names(data)) ||
      !identical(data[["ndarray"]], 0L) || !is.null(data[["tensor"]]) ||
      any(c("jsonData", "strData", "binData") %in% names(msg))) {
    return(NULL)
  }
  p <- length(spec$feature_names)
  order <- resolve_names(data[["names"]], spec$feature_names)
  m <- matrix(values, ncol = p, byrow = TRUE)
  request_frame(frame_from_matrix(m[, order, drop = FALSE], spec$feature_names), message_puid(msg))
}

decode_strict <- function(body, spec) {
  msg <- parse_json_body(body, spec)
  if (!is_json_object(msg)) {
    stop(bad_request(sprintf("the message is a JSON %s: expected an object such as %s",
                             json_type(msg), example_request(spec))))
  }
  check_unique_keys(msg, "the message")
  for (field in c("jsonData", "strData", "binData")) {
    if (!is.null(msg[[field]])) {
      stop(bad_request(sprintf("'%s' is not supported by this model: send data.ndarray or data.tensor", field)))
    }
  }
  puid <- message_puid(msg)
  data <- msg[["data"]]
  if (is.null(data)) {
    stop(bad_request(paste("missing 'data': expected", example_request(spec))))
  }
  if (!is_json_object(data)) {
    stop(bad_request(sprintf("'data' is a JSON %s: expected an object with 'ndarray' or 'tensor'", json_type(data))))
  }
  check_unique_keys(data, "'data'")
  has_nd <- !is.null(data[["ndarray"]])
  has_tensor <- !is.null(data[["tensor"]])
  if (has_nd && has_tensor) stop(bad_request("'data' has both 'ndarray' and 'tensor': send exactly one"))
  if (!has_nd && !has_tensor) {
    stop(bad_request("'data' has neither 'ndarray' nor 'tensor' (tftensor is not supported): send one of them"))
  }
  p <- length(spec$feature_names)
  if (spec$all_numeric) {
    values <- if (has_nd) decode_ndarray(data[["ndarray"]], p) else decode_tensor(data[["tensor"]], p)
    order <- resolve_names(data[["names"]], spec$feature_names)
    return(request_frame(frame_from_matrix(values[, order, drop = FALSE], spec$feature_names), puid, has_tensor))
  }
  order <- resolve_names(data[["names"]], spec$feature_names)
  # The feature each incoming column holds.
  incoming <- spec$features[order(order)]
  columns <- if (has_nd) {
    decode_ndarray_typed(data[["ndarray"]], incoming)
  } else {
    decode_tensor_typed(data[["tensor"]], incoming)
  }
  request_frame(typed_frame(columns[order], spec$features), puid, has_tensor)
}

# meta.puid of a Seldon message, NULL when absent. The Seldon Python wrapper (1.17.1) echoes it
# in the answer's meta when the request carries one, and generates none (the executor does, and
# passes it in meta.puid and the Seldon-Puid header).
message_puid <- function(msg) {
  meta <- msg[["meta"]]
  if (!is_json_object(meta) || is.null(meta[["puid"]])) return(NULL)
  puid <- meta[["puid"]]
  if (!is.character(puid) || length(puid) != 1L) {
    stop(bad_request(sprintf("'meta.puid' is a JSON %s: expected a string", json_type(puid))))
  }
  puid
}

# What the answer needs to know of the request, carried on the frame (and removed before the
# model sees it): the puid to echo, and whether it came as a tensor (answered as one).
request_frame <- function(frame, puid, tensor = FALSE) {
  if (!is.null(puid)) attr(frame, "rmlops_puid") <- puid
  if (isTRUE(tensor)) attr(frame, "rmlops_tensor") <- TRUE
  frame
}

# Checks every cell is a finite JSON number and returns the flat numeric vector.
check_cells <- function(cells, where) {
  values <- unlist(cells, recursive = FALSE, use.names = FALSE)
  # Fast path without an R call per cell: unlist() gives a numeric vector as long as `cells` only
  # if no cell is null, a string, an array or an object; rapply() then rules out booleans, which
  # unlist() would quietly have turned into 0/1.
  all_numbers <- is.numeric(values) && length(values) == length(cells) &&
    length(rapply(cells, identity, classes = "logical", how = "unlist")) == 0L
  if (!all_numbers) {
    types <- vapply(cells, json_type, "")
    i <- which(types != "number")[[1L]]
    extra <- if (types[[i]] == "array") ": data must be exactly 2-D (rows x features)" else ""
    stop(bad_request(sprintf("%s is a JSON %s%s: every cell must be a finite number",
                             where(i), types[[i]], extra)))
  }
  values <- as.numeric(values)
  nonfinite <- which(!is.finite(values))
  if (length(nonfinite) > 0L) {
    stop(bad_request(sprintf("%s is not finite: every cell must be a finite number", where(nonfinite[[1L]]))))
  }
  values
}

decode_ndarray <- function(rows, p) {
  cells <- ndarray_cells(rows, p)
  where <- function(k) sprintf("'data.ndarray' row %d column %d", (k - 1L) %/% p + 1L, (k - 1L) %% p + 1L)
  matrix(check_cells(cells, where), nrow = length(rows), ncol = p, byrow = TRUE)
}

# Checks data.ndarray is rows x p and returns its cells, row-major.
ndarray_cells <- function(rows, p) {
  if (!is_json_array(rows)) {
    stop(bad_request(sprintf("'data.ndarray' is a JSON %s: expected an array of rows, each an array of %d numbers",
                             json_type(rows), p)))
  }
  n <- length(rows)
  if (n == 0L) stop(bad_request(sprintf("'data.ndarray' is empty: expected at least one row of %d numbers", p)))
  # is.list is a primitive, so this stays cheap on large batches; a row that is an object is a
  # named list, which shows up as names on the rows' concatenation.
  not_rows <- which(!vapply(rows, is.list, NA))
  if (length(not_rows) == 0L && !is.null(names(unlist(rows, recursive = FALSE)))) {
    not_rows <- which(!vapply(rows, is_json_array, NA))
  }
  if (length(not_rows) > 0L) {
    i <- not_rows[[1L]]
    stop(bad_request(sprintf("row %d of 'data.ndarray' is a JSON %s: expected rows x features, e.g. [[%s]]",
                             i, json_type(rows[[i]]), paste(rep("<number>", p), collapse = ","))))
  }
  widths <- lengths(rows)
  wrong <- which(widths != p)
  if (length(wrong) > 0L) {
    i <- wrong[[1L]]
    kind <- if (length(unique(widths)) > 1L) "ragged 'data.ndarray': " else ""
    stop(bad_request(sprintf("%srow %d has %d values: the model expects %d features per row",
                             kind, i, widths[[i]], p)))
  }
  unlist(rows, recursive = FALSE, use.names = FALSE)
}

# One vector per incoming column, each checked against the feature it holds.
decode_ndarray_typed <- function(rows, incoming) {
  p <- length(incoming)
  cells <- ndarray_cells(rows, p)
  n <- length(rows)
  lapply(seq_len(p), function(j) {
    where <- function(i) sprintf("'data.ndarray' row %d column %d", i, j)
    check_column(cells[seq.int(j, by = p, length.out = n)], incoming[[j]], where)
  })
}

decode_tensor_typed <- function(tensor, incoming) {
  types <- vapply(incoming, function(f) f$type, "")
  text <- !types %in% c("numeric", "integer")
  if (any(text)) {
    stop(bad_request(sprintf("'data.tensor' carries numbers only, and feature(s) %s are %s: send data.ndarray",
                             paste0("'", vapply(incoming[text], function(f) f$name, ""), "'", collapse = ", "),
                             paste(unique(types[text]), collapse = "/"))))
  }
  m <- decode_tensor(tensor, length(incoming))
  lapply(seq_along(incoming), function(j) {
    v <- m[, j]
    if (types[[j]] == "integer") check_integers(v, incoming[[j]], function(i) sprintf("'data.tensor' row %d column %d", i, j))
    v
  })
}

type_expectation <- c(numeric = "a finite number", integer = "a whole number", logical = "true or false",
                      factor = "one of its levels, as a string", character = "a string")

wrong_cell <- function(where, type, feature) {
  stop(bad_request(sprintf("%s is a JSON %s: feature '%s' is %s, expected %s", where, type, feature$name,
                           feature$type, type_expectation[[feature$type]])))
}

# The cells of one column (one per row) as a vector of the feature's type, or a bad_request
# naming the first cell that does not fit.
check_column <- function(cells, feature, where) {
  values <- unlist(cells, recursive = FALSE, use.names = FALSE)
  n <- length(cells)
  type <- feature$type
  if (type %in% c("numeric", "integer")) {
    ok <- is.numeric(values) && length(values) == n &&
      length(rapply(cells, identity, classes = "logical", how = "unlist")) == 0L
    if (!ok) {
      types <- vapply(cells, json_type, "")
      i <- which(types != "number")[[1L]]
      wrong_cell(where(i), types[[i]], feature)
    }
    values <- as.numeric(values)
    nonfinite <- which(!is.finite(values))
    if (length(nonfinite) > 0L) {
      stop(bad_request(sprintf("%s is not finite: feature '%s' expects %s", where(nonfinite[[1L]]), feature$name,
                               type_expectation[[type]])))
    }
    if (type == "integer") check_integers(values, feature, where)
    return(values)
  }
  want <- if (type == "logical") is.logical else is.character
  if (!(want(values) && length(values) == n)) {
    types <- vapply(cells, json_type, "")
    i <- which(types != if (type == "logical") "boolean" else "string")[[1L]]
    wrong_cell(where(i), types[[i]], feature)
  }
  if (type == "factor" || (type == "character" && length(feature$levels) > 0L)) {
    levels <- unlist(feature$accepted %||% feature$levels)
    unknown <- which(!values %in% levels)
    if (length(unknown) > 0L) {
      i <- unknown[[1L]]
      stop(bad_request(sprintf("%s: value '%s' of feature '%s' is not one of its levels: %s", where(i),
                               values[[i]], feature$name, paste(levels, collapse = ", "))))
    }
  }
  values
}

check_integers <- function(values, feature, where) {
  bad <- which(values != round(values) | abs(values) > .Machine$integer.max)
  if (length(bad) > 0L) {
    stop(bad_request(sprintf("%s is %s: feature '%s' is integer, expected a whole number", where(bad[[1L]]),
                             format(values[[bad[[1L]]]], digits = 15), feature$name)))
  }
  invisible(values)
}

decode_tensor <- function(tensor, p) {
  if (!is_json_object(tensor)) {
    stop(bad_request(sprintf("'data.tensor' is a JSON %s: expected {\"shape\":[rows,%d],\"values\":[...]}",
                             json_type(tensor), p)))
  }
  check_unique_keys(tensor, "'data.tensor'")
  shape <- tensor[["shape"]]
  values <- tensor[["values"]]
  if (is.null(shape) || is.null(values)) {
    stop(bad_request("'data.tensor' needs both 'shape' and 'values'"))
  }
  if (!is_json_array(shape) || !length(shape) %in% c(1L, 2L) ||
      !all(vapply(shape, function(s) is.numeric(s) && length(s) == 1L && is.finite(s) && s >= 1 && s == round(s), NA))) {
    stop(bad_request(sprintf("'data.tensor.shape' must be [rows, %d] (or [%d] for one row) with positive integers", p, p)))
  }
  if (!is_json_array(values)) {
    stop(bad_request(sprintf("'data.tensor.values' is a JSON %s: expected a flat array of numbers", json_type(values))))
  }
  # Checked as doubles before any integer conversion: a shape beyond R's integer range would
  # otherwise become NA, and a product of large dimensions would overflow.
  shape <- as.numeric(unlist(shape))
  if (length(shape) == 1L) shape <- c(1, shape)
  shape_text <- paste0("[", paste(format_count(shape), collapse = ","), "]")
  if (shape[[2L]] != p) {
    stop(bad_request(sprintf("'data.tensor.shape' has %s features: the model expects %d", format_count(shape[[2L]]), p)))
  }
  if (shape[[1L]] > .Machine$integer.max || prod(shape) != length(values)) {
    stop(bad_request(sprintf("'data.tensor.shape' %s needs %s values but 'values' has %d",
                             shape_text, format_count(prod(shape)), length(values))))
  }
  nums <- check_cells(values, function(k) sprintf("'data.tensor.values' element %d", k))
  matrix(nums, nrow = as.integer(shape[[1L]]), ncol = p, byrow = TRUE)
}

# A whole number held as a double, in digits while exact, else in scientific notation.
format_count <- function(x) ifelse(x < 2^53, sprintf("%.0f", x), sprintf("%.3g", x))

# jsonlite keeps every duplicate key and `[[` picks the first: a message such as
# {"data":{...},"data":5} would be read differently by other parsers, so it is refused.
check_unique_keys <- function(obj, where) {
  dup <- unique(names(obj)[duplicated(names(obj))])
  if (length(dup) > 0L) {
    stop(bad_request(sprintf("duplicate key(s) %s in %s: each key may appear once",
                             paste0("'", dup, "'", collapse = ", "), where)))
  }
  invisible(obj)
}

# Column order of the incoming values relative to the prototype; names may come in any order.
resolve_names <- function(names, features) {
  p <- length(features)
  if (is.null(names)) return(seq_len(p))
  if (!is_json_array(names) || !all(vapply(names, function(x) is.character(x) && length(x) == 1L, NA))) {
    stop(bad_request(sprintf("'data.names' must be an array of strings from: %s", paste(features, collapse = ", "))))
  }
  names <- unlist(names)
  if (length(names) != p) {
    stop(bad_request(sprintf("'data.names' has %d names but each row has %d values: the model expects %d features (%s)",
                             length(names), p, p, paste(features, collapse = ", "))))
  }
  dup <- unique(names[duplicated(names)])
  if (length(dup) > 0L) stop(bad_request(sprintf("duplicate name(s) in 'data.names': %s", paste(dup, collapse = ", "))))
  unknown <- setdiff(names, features)
  if (length(unknown) > 0L) {
    stop(bad_request(sprintf("unknown name(s) in 'data.names': %s; expected: %s",
                             paste(unknown, collapse = ", "), paste(features, collapse = ", "))))
  }
  match(features, names)
}

frame_from_matrix <- function(m, features) {
  df <- as.data.frame(m, stringsAsFactors = FALSE)
  names(df) <- features
  df
}

# JSON text of values, written without jsonlite for the shapes predictions take (it costs
# more than a small prediction): numbers with 15 significant digits (jsonlite's digits = NA),
# non-finite numbers and NA as null (RFC 8259 has no NaN or Infinity), strings escaped.
json_values <- function(x) {
  if (is.logical(x)) return(ifelse(is.na(x), "null", ifelse(x, "true", "false")))
  if (is.numeric(x)) {
    out <- sprintf("%.15g", x)
    out[!is.finite(x)] <- "null"
    return(out)
  }
  x <- enc2utf8(as.character(x))
  out <- paste0('"', gsub('(["\\\\])', "\\\\\\1", x, perl = TRUE), '"')
  # Control characters need \u escapes: rare in class labels, left to jsonlite.
  odd <- grepl("[\001-\037]", x, perl = TRUE)
  if (any(odd)) out[odd] <- vapply(x[odd], function(v) as.character(jsonlite::toJSON(v, auto_unbox = TRUE)), "")
  out[is.na(x)] <- "null"
  out
}

json_array <- function(items) paste0("[", paste(items, collapse = ","), "]")

# The ndarray of a prediction vector or matrix (rows of it), as json_values() writes the cells.
# C (src/http.c) writes the same text without an R string per cell; strings with control
# characters are left to json_values().
json_ndarray <- function(predictions) {
  fast <- .Call(C_rmlops_json_ndarray, predictions)
  if (!is.null(fast)) return(fast)
  json_ndarray_r(predictions)
}

json_ndarray_r <- function(predictions) {
  if (is.matrix(predictions)) {
    v <- matrix(json_values(predictions), nrow = nrow(predictions))
    rows <- paste0("[", do.call(paste, c(lapply(seq_len(ncol(v)), function(j) v[, j]), sep = ",")), "]")
  } else {
    rows <- json_values(unname(predictions))
  }
  json_array(rows)
}

# A vector answers as one output ("prediction"); class probabilities as one column per class.
# `meta` may be given as JSON text (the server precomputes it once).
# `puid`: echoed in meta. `tensor`: the request came as data.tensor, and numeric predictions then
# answer as one ({"shape":[rows] or [rows,k],"values":[...]}, row-major), as the Seldon Python
# wrapper does; other predictions (class labels) answer as ndarray, as there.
encode_predictions <- function(predictions, output_names, meta, puid = NULL, tensor = FALSE) {
  if (is.factor(predictions)) predictions <- as.character(predictions)
  if (is.character(meta) || (is.atomic(predictions) && (is.null(dim(predictions)) || is.matrix(predictions)))) {
    meta_json <- if (is.character(meta)) meta else as.character(jsonlite::toJSON(meta, auto_unbox = TRUE, digits = NA, null = "null"))
    if (!is.null(puid)) {
      meta_json <- paste0(if (meta_json == "{}") "{" else paste0(substr(meta_json, 1L, nchar(meta_json) - 1L), ","),
                          '"puid":', json_values(puid), "}")
    }
    names_out <- if (is.matrix(predictions)) colnames(predictions) %||% unlist(output_names) else unlist(output_names)
    payload <- if (tensor && is.numeric(predictions)) {
      shape <- if (is.matrix(predictions)) dim(predictions) else length(predictions)
      values <- if (is.matrix(predictions)) as.vector(t(predictions)) else unname(predictions)
      paste0(',"tensor":{"shape":', json_array(shape), ',"values":', json_ndarray(as.vector(values)), "}")
    } else {
      paste0(',"ndarray":', json_ndarray(predictions))
    }
    return(paste0('{"data":{"names":', json_ndarray(as.character(names_out)), payload, '},"meta":', meta_json, "}"))
  }
  if (is.matrix(predictions)) {
    output_names <- colnames(predictions) %||% output_names
    predictions <- unname(predictions)
  }
  as.character(jsonlite::toJSON(
    list(data = list(names = I(unlist(output_names)), ndarray = I(unname(predictions))), meta = meta),
    auto_unbox = TRUE, digits = NA, null = "null", na = "null", matrix = "rowmajor"
  ))
}
