# The Open Inference Protocol (v2, REST): health, model metadata, readiness and inference.
# A tabular model's features are tensors: one per feature (shape [n] or [n,1], named by feature
# or given in feature order), or one [n, features] tensor when every feature has one datatype
# family. Outputs are the bundle's output names, typed: FP64 numbers, BYTES classes, BOOL.

v2_error_body <- function(message) {
  as.character(jsonlite::toJSON(list(error = message), auto_unbox = TRUE))
}

v2_datatypes <- c("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                  "FP16", "FP32", "FP64", "BYTES")

feature_datatype <- c(numeric = "FP64", integer = "INT32", logical = "BOOL", factor = "BYTES", character = "BYTES")
output_datatype <- c(numeric = "FP64", probabilities = "FP64", class = "BYTES", logical = "BOOL")

# Datatypes a feature of each type accepts.
accepted_datatypes <- list(
  numeric = c("FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"),
  integer = c("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "FP16", "FP32", "FP64"),
  logical = "BOOL", factor = "BYTES", character = "BYTES"
)

int_range <- list(INT8 = c(-128, 127), INT16 = c(-32768, 32767), INT32 = c(-2147483648, 2147483647),
                  INT64 = c(-2^63, 2^63), UINT8 = c(0, 255), UINT16 = c(0, 65535), UINT32 = c(0, 4294967295),
                  UINT64 = c(0, 2^64))

v2_metadata_body <- function(name, version, spec, output) {
  inputs <- lapply(spec$features, function(f) {
    t <- list(name = f$name, datatype = feature_datatype[[f$type]], shape = I(c(-1L, 1L)))
    if (length(f$levels)) t$parameters <- list(levels = I(as.character(unlist(f$accepted %||% f$levels))))
    t
  })
  outputs <- lapply(as.character(unlist(output$names)), function(n) {
    list(name = n, datatype = output_datatype[[output$kind]], shape = I(-1L))
  })
  as.character(jsonlite::toJSON(list(name = name, versions = I(version), platform = "rmlops-r",
                                     inputs = inputs, outputs = outputs), auto_unbox = TRUE, digits = NA))
}

v2_bad <- function(fmt, ...) stop(bad_request(sprintf(fmt, ...)))

v2_handle <- function(state, route, req) {
  switch(route$id,
    v2_server = list(status = 200L, body = '{"name":"rmlops-r","version":"1","extensions":[]}'),
    v2_live = list(status = 200L, body = '{"live":true}'),
    v2_ready = {
      problem <- readiness_problem(state)
      # OIP: 200 means ready, a 4xx means not ready.
      if (!is.null(problem)) return(list(status = 400L, body = v2_error_body(problem)))
      list(status = 200L, body = '{"ready":true}')
    },
    {
      check_v2_model(state, route)
      if (route$id == "v2_model_ready") {
        problem <- readiness_problem(state)
        if (!is.null(problem)) return(list(status = 400L, body = v2_error_body(problem)))
        return(list(status = 200L, body = sprintf('{"name":%s,"ready":true}', jsonlite::toJSON(state$v2_name, auto_unbox = TRUE))))
      }
      if (is.null(state$bundle)) stop(not_ready("the model is not loaded yet: retry when /v2/health/ready answers 200"))
      if (route$id == "v2_model") return(list(status = 200L, body = state$v2_metadata_body))
      handle_v2_infer(state, req$body)
    })
}

check_v2_model <- function(state, route) {
  name <- state$v2_name
  if (!is.na(name) && !identical(route$model, name)) {
    stop(not_found(sprintf("unknown model '%s': this server serves '%s'", substr(route$model, 1L, 200L), name)))
  }
  if (!is.na(route$version) && !is.null(state$info) && !identical(route$version, state$info$version)) {
    stop(not_found(sprintf("unknown version '%s' of model '%s': this server serves version '%s'",
                           substr(route$version, 1L, 100L), name, state$info$version)))
  }
  invisible()
}

handle_v2_infer <- function(state, body) {
  decoded <- decode_v2_request(body, state$spec)
  bundle <- state$bundle
  predictions <- predict_bundle(bundle, decoded$frame)
  list(status = 200L, body = encode_v2_response(predictions, bundle$output, state, decoded),
       rows = nrow(decoded$frame))
}

# Flattens nested arrays (the spec allows data nested to the shape, or flat, row-major).
flatten_data <- function(x) {
  while (length(x) > 0L && any(vapply(x, is.list, NA))) {
    if (!all(vapply(x, is.list, NA))) break
    x <- unlist(x, recursive = FALSE, use.names = FALSE)
  }
  x
}

check_tensor <- function(t, i, where_names) {
  where <- sprintf("inputs[%d]", i)
  if (!is_json_object(t)) v2_bad("%s is a JSON %s: expected {\"name\",\"shape\",\"datatype\",\"data\"}", where, json_type(t))
  check_unique_keys(t, where)
  for (k in c("name", "shape", "datatype", "data")) {
    if (is.null(t[[k]])) v2_bad("%s has no '%s': every input needs name, shape, datatype and data", where, k)
  }
  if (!is.character(t$name) || length(t$name) != 1L) v2_bad("%s.name must be a string", where)
  if (!is.character(t$datatype) || length(t$datatype) != 1L || !t$datatype %in% v2_datatypes) {
    v2_bad("input '%s' has datatype %s: expected one of %s", t$name, substr(format(t$datatype), 1L, 40L),
           paste(v2_datatypes, collapse = ", "))
  }
  shape <- t$shape
  if (!is_json_array(shape) || length(shape) == 0L ||
      !all(vapply(shape, function(s) is.numeric(s) && length(s) == 1L && is.finite(s) && s >= 0 && s == round(s), NA))) {
    v2_bad("input '%s' has shape %s: expected an array of non-negative integers such as [3] or [3,4]", t$name,
           substr(as.character(jsonlite::toJSON(shape, auto_unbox = TRUE)), 1L, 80L))
  }
  shape <- as.numeric(unlist(shape))
  if (!is.list(t$data)) v2_bad("input '%s' data is a JSON %s: expected an array", t$name, json_type(t$data))
  data <- flatten_data(t$data)
  if (prod(shape) != length(data)) {
    v2_bad("input '%s' has shape [%s], which needs %s values, but data has %d", t$name,
           paste(format_count(shape), collapse = ","), format_count(prod(shape)), length(data))
  }
  if (!is.null(t$parameters) && !is_json_object(t$parameters) && !identical(t$parameters, list())) {
    v2_bad("input '%s' parameters must be an object", t$name)
  }
  if (!is.null(t$parameters[["binary_data_size"]])) {
    v2_bad("input '%s' has parameters.binary_data_size: binary tensor data is not supported, send it as JSON", t$name)
  }
  list(name = t$name, shape = shape, datatype = t$datatype, data = data)
}

# The values of one tensor column as the feature's R type, checked against its datatype.
v2_column <- function(cells, feature, datatype, tensor_name) {
  if (!datatype %in% accepted_datatypes[[feature$type]]) {
    v2_bad("input '%s' is %s but feature '%s' is %s: send %s", tensor_name, datatype, feature$name, feature$type,
           paste(accepted_datatypes[[feature$type]][1L], collapse = "/"))
  }
  where <- function(i) sprintf("input '%s' element %d", tensor_name, i)
  values <- check_column(cells, feature, where)
  if (datatype %in% names(int_range)) {
    r <- int_range[[datatype]]
    bad <- which(values != round(values) | values < r[[1L]] | values > r[[2L]])
    if (length(bad)) v2_bad("%s is %s: not a %s value", where(bad[[1L]]), format(values[[bad[[1L]]]], digits = 15), datatype)
  }
  values
}

decode_v2_request <- function(body, spec) {
  # The common request, one [rows, features] FP tensor of an all-numeric model, is read by C in
  # one pass (src/http.c, rmlops_decode_v2); anything else, mistakes included, by the R below.
  if (spec$all_numeric) {
    fast <- .Call(C_rmlops_decode_v2, body, spec$feature_names)
    if (!is.null(fast)) return(list(frame = fast[[1L]], id = fast[[2L]], wanted = NULL))
  }
  decode_v2_strict(body, spec)
}

decode_v2_strict <- function(body, spec) {
  msg <- parse_json_body(body, spec, example = v2_example(spec))
  if (!is_json_object(msg)) v2_bad("the request is a JSON %s: expected an object such as %s", json_type(msg), v2_example(spec))
  check_unique_keys(msg, "the request")
  if (!is.null(msg$id) && !(is.character(msg$id) && length(msg$id) == 1L)) v2_bad("'id' must be a string")
  if (!is.null(msg$parameters) && !is_json_object(msg$parameters) && !identical(msg$parameters, list())) {
    v2_bad("'parameters' must be an object")
  }
  inputs <- msg$inputs
  if (is.null(inputs)) v2_bad("missing 'inputs': expected %s", v2_example(spec))
  if (!is_json_array(inputs) || length(inputs) == 0L) v2_bad("'inputs' must be a non-empty array of tensors")
  tensors <- lapply(seq_along(inputs), function(i) check_tensor(inputs[[i]], i))
  tnames <- vapply(tensors, function(t) t$name, "")
  dup <- unique(tnames[duplicated(tnames)])
  if (length(dup)) v2_bad("duplicate input name(s): %s", paste(dup, collapse = ", "))
  features <- spec$features
  fnames <- spec$feature_names
  p <- length(features)
  if (length(tensors) == 1L && length(tensors[[1L]]$shape) == 2L && (p > 1L || !tnames %in% fnames)) {
    frame <- v2_table(tensors[[1L]], features)
  } else {
    if (length(tensors) != p) {
      v2_bad("%d input(s) given: the model takes one per feature (%s), or one [rows, %d] tensor",
             length(tensors), paste(fnames, collapse = ", "), p)
    }
    known <- tnames %in% fnames
    if (any(known) && !all(known)) {
      v2_bad("unknown input name(s) %s: name every input by its feature (%s), or none (then by position)",
             paste(tnames[!known], collapse = ", "), paste(fnames, collapse = ", "))
    }
    order <- if (all(known)) match(fnames, tnames) else seq_len(p)
    n <- NA_real_
    columns <- lapply(seq_len(p), function(j) {
      t <- tensors[[order[[j]]]]
      if (!(length(t$shape) == 1L || (length(t$shape) == 2L && t$shape[[2L]] == 1))) {
        v2_bad("input '%s' has shape [%s]: a feature's tensor is [rows] or [rows,1]", t$name, paste(t$shape, collapse = ","))
      }
      if (is.na(n)) n <<- t$shape[[1L]]
      if (t$shape[[1L]] != n) v2_bad("input '%s' has %s rows, others %s: every feature needs the same rows", t$name,
                                     format_count(t$shape[[1L]]), format_count(n))
      v2_column(t$data, features[[j]], t$datatype, t$name)
    })
    if (n == 0) v2_bad("the inputs have no rows")
    frame <- typed_frame(columns, features)
  }
  wanted <- NULL
  if (!is.null(msg$outputs)) {
    if (!is_json_array(msg$outputs)) v2_bad("'outputs' must be an array of {\"name\": ...}")
    wanted <- vapply(msg$outputs, function(o) {
      if (!is_json_object(o) || !is.character(o$name) || length(o$name) != 1L) v2_bad("each of 'outputs' needs a string 'name'")
      o$name
    }, "")
  }
  list(frame = frame, id = msg$id, wanted = wanted)
}

# One [rows, features] tensor for the whole table.
v2_table <- function(t, features) {
  p <- length(features)
  if (t$shape[[2L]] != p) {
    v2_bad("input '%s' has shape [%s]: the model expects %d features per row (%s)", t$name,
           paste(format_count(t$shape), collapse = ","), p, paste(vapply(features, function(f) f$name, ""), collapse = ", "))
  }
  n <- t$shape[[1L]]
  if (n == 0) v2_bad("input '%s' has no rows", t$name)
  columns <- lapply(seq_len(p), function(j) {
    cells <- t$data[seq.int(j, by = p, length.out = n)]
    v2_column(cells, features[[j]], t$datatype, t$name)
  })
  typed_frame(columns, features)
}

v2_example <- function(spec) {
  sprintf('{"inputs":[%s]}', paste(vapply(spec$features, function(f) {
    sprintf('{"name":"%s","datatype":"%s","shape":[1],"data":[%s]}', f$name, feature_datatype[[f$type]],
            type_placeholder[[f$type]])
  }, ""), collapse = ","))
}

encode_v2_response <- function(predictions, output, state, decoded) {
  if (is.factor(predictions)) predictions <- as.character(predictions)
  names <- as.character(unlist(output$names))
  columns <- if (is.matrix(predictions)) {
    names <- colnames(predictions) %||% names
    lapply(seq_len(ncol(predictions)), function(j) unname(predictions[, j]))
  } else {
    list(unname(predictions))
  }
  keep <- seq_along(names)
  if (!is.null(decoded$wanted)) {
    unknown <- setdiff(decoded$wanted, names)
    if (length(unknown)) v2_bad("unknown output(s) %s: this model outputs %s", paste(unknown, collapse = ", "),
                                paste(names, collapse = ", "))
    keep <- match(decoded$wanted, names)
  }
  dt <- output_datatype[[output$kind]]
  # Written by hand like the Seldon answer (see json_values): jsonlite costs more than a small prediction.
  outputs <- vapply(keep, function(j) {
    sprintf('{"name":%s,"datatype":"%s","shape":[%d],"data":%s}', json_values(names[[j]]), dt,
            length(columns[[j]]), json_array(json_values(columns[[j]])))
  }, "")
  paste0('{"model_name":', json_values(state$v2_name), ',"model_version":', json_values(state$info$version),
         if (!is.null(decoded$id)) paste0(',"id":', json_values(decoded$id)) else "",
         ',"outputs":', json_array(outputs), "}")
}
