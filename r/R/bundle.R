# The model bundle: a directory any R model with a `predict` method is served from. The layout
# is written down in docs/bundle-format.md; bundle_format_version changes with any change a
# reader of an older version could misread.

bundle_format_name <- "rmlops-r-bundle"

#' Version of the bundle format this package writes and reads
#'
#' A bundle records its format name and version in `bundle.json`; [read_bundle()] refuses any
#' other version with a `bundle_version_error`.
#' @return An integer.
#' @examples
#' bundle_format_version()
#' @export
bundle_format_version <- function() 1L

# Files every bundle has; the server downloads these.
bundle_files <- c("bundle.json", "model.rds", "MLmodel")

feature_types <- c("numeric", "integer", "logical", "factor", "character")

# Packages attached with R itself: always present where R runs, so never recorded.
base_packages <- c("base", "stats", "utils", "methods", "graphics", "grDevices", "datasets", "tools",
                   "parallel", "grid", "splines", "stats4", "tcltk", "compiler")

bundle_input_error <- function(message) config_error(message, class = "bundle_input_error")

# Feature specifications from the example's columns, in order. A character feature the model
# turned into a factor when it was fitted (lm/glm keep those levels in `xlevels`) gets them as its
# accepted values, so an unknown value is the client's 400, not predict()'s "new levels" error.
feature_specs <- function(example, model = NULL) {
  if (!is.data.frame(example)) {
    stop(bundle_input_error(sprintf("example must be a data frame of a few input rows, not %s",
                                    paste(class(example), collapse = "/"))))
  }
  if (nrow(example) < 1L || ncol(example) < 1L) {
    stop(bundle_input_error("example must have at least one row and one column (the model's input features)"))
  }
  nm <- names(example)
  if (any(is.na(nm) | !nzchar(nm)) || anyDuplicated(nm)) {
    stop(bundle_input_error("example columns must have unique, non-empty names"))
  }
  lapply(nm, function(n) {
    col <- example[[n]]
    type <- column_type(col)
    if (is.na(type)) {
      stop(bundle_input_error(sprintf(
        "example column '%s' is %s: supported feature types are numeric, integer, logical, factor and character",
        n, paste(class(col), collapse = "/"))))
    }
    if (anyNA(col)) stop(bundle_input_error(sprintf("example column '%s' has missing values: give complete rows", n)))
    spec <- list(name = n, type = type)
    if (type == "factor") {
      spec$levels <- I(levels(col))
      spec$ordered <- is.ordered(col)
    }
    fitted_levels <- if (is.list(model) && is.list(model$xlevels)) model$xlevels[[n]]
    if (type == "character" && is.character(fitted_levels) && length(fitted_levels) > 0L) {
      spec$levels <- I(fitted_levels)
    }
    # A factor level the fit never saw makes predict() fail: only the fitted ones are accepted.
    if (type == "factor" && is.character(fitted_levels) && length(fitted_levels) > 0L &&
        !setequal(fitted_levels, levels(col))) {
      spec$accepted <- I(intersect(levels(col), fitted_levels))
    }
    spec
  })
}

column_type <- function(col) {
  cl <- class(col)
  if (is.factor(col)) return("factor")
  if (!is.null(dim(col)) || !is.atomic(col)) return(NA_character_)
  if (identical(cl, "numeric")) return("numeric")
  if (identical(cl, "integer")) return("integer")
  if (identical(cl, "logical")) return("logical")
  if (identical(cl, "character")) return("character")
  NA_character_
}

# Builds a data frame of the features' R types from one vector per feature (already checked).
typed_frame <- function(columns, features) {
  cols <- lapply(seq_along(features), function(i) {
    f <- features[[i]]
    v <- columns[[i]]
    switch(f$type,
      numeric = as.numeric(v),
      integer = as.integer(v),
      logical = as.logical(v),
      character = as.character(v),
      factor = factor(as.character(v), levels = unlist(f$levels), ordered = isTRUE(f$ordered))
    )
  })
  names(cols) <- vapply(features, function(f) f$name, "")
  df <- as.data.frame(cols, stringsAsFactors = FALSE, optional = TRUE)
  names(df) <- names(cols)
  df
}

# What predict() returns, described so the server can encode it and check it at load:
# numbers, classes, logicals, or one column per class (probabilities).
describe_output <- function(pred, n) {
  if (is.data.frame(pred)) pred <- as.matrix(pred)
  if (is.array(pred) && length(dim(pred)) == 1L) pred <- as.vector(pred)
  if (is.matrix(pred)) {
    if (nrow(pred) != n) return(sprintf("a %d x %d matrix for %d rows", nrow(pred), ncol(pred), n))
    if (ncol(pred) == 1L) return(describe_output(pred[, 1L, drop = TRUE], n))
    if (!is.numeric(pred)) return(sprintf("a %s matrix of %d columns (only numeric columns, one per class, are supported)", typeof(pred), ncol(pred)))
    cn <- colnames(pred)
    if (is.null(cn) || anyNA(cn) || any(!nzchar(cn)) || anyDuplicated(cn)) {
      return("a matrix without unique column names (one named column per class is expected)")
    }
    return(list(kind = "probabilities", names = I(cn)))
  }
  if (!is.atomic(pred) || length(pred) != n) {
    return(sprintf("%s of length %d for %d rows", paste(class(pred), collapse = "/"), length(pred), n))
  }
  if (is.factor(pred)) return(list(kind = "class", names = I("prediction"), levels = I(levels(pred))))
  if (is.character(pred)) return(list(kind = "class", names = I("prediction")))
  if (is.logical(pred)) return(list(kind = "logical", names = I("prediction")))
  if (is.numeric(pred)) return(list(kind = "numeric", names = I("prediction")))
  sprintf("a %s vector", typeof(pred))
}

# predict() with the bundle's arguments, as a plain vector or a matrix with one named column per
# class, checked against what was recorded when the bundle was written.
predict_raw <- function(model, newdata, predict_args) {
  do.call(stats::predict, c(list(model, newdata = newdata), predict_args))
}

#' Predict with a bundle
#'
#' Calls `predict(model, newdata = newdata, <predict_args>)` and returns the result in the shape
#' recorded in the bundle: a vector (numbers, classes as character, logicals), or for class
#' probabilities a numeric matrix with one column per class, in the recorded class order.
#'
#' @param bundle A bundle from [read_bundle()].
#' @param newdata A data frame with the bundle's feature columns.
#' @return A vector with one value per row, or a matrix with one row per row of `newdata`.
#' @examples
#' dir <- file.path(tempdir(), "cars-bundle")
#' fit <- lm(dist ~ speed, data = cars)
#' write_bundle(fit, dir, example = cars[1:3, "speed", drop = FALSE])
#' predict_bundle(read_bundle(dir), data.frame(speed = c(10, 20)))
#' @export
predict_bundle <- function(bundle, newdata) {
  pred <- predict_raw(bundle$model, newdata, bundle$predict_args)
  shape_prediction(pred, bundle$output, nrow(newdata))
}

shape_prediction <- function(pred, output, n) {
  got <- describe_output(pred, n)
  if (is.character(got)) stop(sprintf("predict() returned %s", got))
  if (!identical(got$kind, output$kind)) {
    stop(sprintf("predict() returned %s output, the bundle recorded %s", got$kind, output$kind))
  }
  if (output$kind == "probabilities") {
    pred <- as.matrix(pred)
    names <- unlist(output$names)
    if (!setequal(colnames(pred), names)) {
      stop(sprintf("predict() returned the classes %s, the bundle recorded %s",
                   paste(colnames(pred), collapse = ", "), paste(names, collapse = ", ")))
    }
    pred <- pred[, names, drop = FALSE]
    storage.mode(pred) <- "double"
    dimnames(pred) <- list(NULL, names)
    return(pred)
  }
  if (is.data.frame(pred) || is.matrix(pred)) pred <- as.matrix(pred)[, 1L, drop = TRUE]
  if (is.factor(pred)) pred <- as.character(pred)
  unname(as.vector(pred))
}

# ---- packages a model needs ---------------------------------------------------------------

# The package whose namespace `env` is, or encloses (a closure made inside a package function
# has an environment whose ancestor is that namespace).
env_package <- function(env) {
  if (!is.environment(env)) return(character())
  for (i in seq_len(50L)) {
    if (isNamespace(env)) return(getNamespaceName(env)[[1L]])
    if (identical(env, globalenv()) || identical(env, emptyenv()) || identical(env, baseenv())) break
    env <- parent.env(env)
  }
  character()
}

# For each S3 class name, the non-base namespaces that register methods for it. A class some
# base package has methods for (data.frame, factor, formula, ...) is left out: R always has it.
class_owners <- function(classes) {
  classes <- unique(classes)
  owners <- character()
  if (length(classes) == 0L) return(owners)
  reg_ns <- character()
  reg_class <- character()
  for (ns in loadedNamespaces()) {
    tbl <- tryCatch(getNamespaceInfo(ns, "S3methods"), error = function(e) NULL)
    if (!is.matrix(tbl) || nrow(tbl) == 0L || ncol(tbl) < 2L) next
    reg_ns <- c(reg_ns, rep(ns, nrow(tbl)))
    reg_class <- c(reg_class, tbl[, 2L])
  }
  base_defined <- function(cl) {
    any(vapply(c("print", "format", "summary", "as.character", "[", "predict"), function(g) {
      m <- utils::getS3method(g, cl, optional = TRUE)
      !is.null(m) && env_package(environment(m)) %in% base_packages
    }, NA))
  }
  for (cl in classes) {
    ns <- unique(reg_ns[reg_class == cl])
    if (length(ns) == 0L || any(ns %in% base_packages) || base_defined(cl)) next
    owners <- c(owners, ns)
  }
  unique(owners)
}

# Walks the model object (lists, attributes, closures' and formulas' environments) collecting
# classes and namespaces. Bounded: a model may hold large nested structures.
collect_model_refs <- function(model, max_nodes = 20000L) {
  classes <- character()
  namespaces <- character()
  seen <- 0L
  visit <- function(x, depth) {
    seen <<- seen + 1L
    if (seen > max_nodes || depth > 30L) return(invisible())
    if (is.environment(x)) {
      namespaces <<- c(namespaces, env_package(x))
      return(invisible())
    }
    if (isS4(x)) {
      namespaces <<- c(namespaces, attr(class(x), "package"))
    }
    cl <- oldClass(x)
    if (!is.null(cl)) classes <<- c(classes, cl)
    if (is.function(x)) {
      namespaces <<- c(namespaces, env_package(environment(x)))
      return(invisible())
    }
    at <- attributes(x)
    for (a in setdiff(names(at), c("names", "dim", "dimnames", "row.names", "class", "levels"))) {
      visit(at[[a]], depth + 1L)
    }
    if (is.list(x) && !is.data.frame(x)) {
      for (el in x) visit(el, depth + 1L)
    } else if (is.data.frame(x)) {
      for (el in x) if (!is.null(oldClass(el)) || !is.null(attributes(el))) visit(el, depth + 1L)
    }
    invisible()
  }
  visit(model, 0L)
  list(classes = unique(classes), namespaces = unique(namespaces))
}

#' Packages a model needs in order to predict
#'
#' The namespace that defines the `predict` method for the model's class (S3 or S4), plus the
#' packages of classes, functions and environments found inside the model object. Base R
#' packages are left out. [write_bundle()] records the result with the package versions, and
#' [read_bundle()] loads them before reading the model.
#'
#' @param model A fitted model.
#' @return A character vector of package names.
#' @examples
#' model_packages(lm(dist ~ speed, data = cars)) # character(0): stats is part of R
#' @export
model_packages <- function(model) {
  pkgs <- character()
  for (cl in class(model)) {
    m <- utils::getS3method("predict", cl, optional = TRUE)
    if (!is.null(m)) {
      pkgs <- c(pkgs, env_package(environment(m)))
      break
    }
  }
  if (isS4(model)) {
    pkgs <- c(pkgs, attr(class(model), "package"))
    method <- tryCatch(methods::selectMethod("predict", class(model), optional = TRUE), error = function(e) NULL)
    if (!is.null(method)) pkgs <- c(pkgs, env_package(environment(method)))
  }
  refs <- collect_model_refs(model)
  pkgs <- unique(c(pkgs, refs$namespaces, class_owners(refs$classes)))
  pkgs <- pkgs[!is.na(pkgs) & nzchar(pkgs) & !pkgs %in% c(base_packages, "rmlops")]
  sort(pkgs)
}

has_predict_method <- function(model) {
  any(vapply(class(model), function(cl) !is.null(utils::getS3method("predict", cl, optional = TRUE)), NA)) ||
    isS4(model) && methods::existsMethod("predict", class(model)) ||
    isS4(model) && !is.null(tryCatch(methods::selectMethod("predict", class(model)), error = function(e) NULL))
}

# ---- writing --------------------------------------------------------------------------------

bundle_dir_error <- function(message) config_error(message, class = "bundle_dir_error")
bundle_io_error <- function(message) retryable_error(message, class = "bundle_io_error")

# Writes bytes and checks that every one reached the file. Opening is where a missing permission
# or a read-only file system shows (a setting: config error); a failure while writing or closing,
# or a short file, is an I/O failure such as a full disk (retryable). Warnings count as failures:
# R reports several write errors only as warnings.
write_bytes_checked <- function(path, bytes) {
  con <- tryCatch(withCallingHandlers(file(path, open = "wb", raw = TRUE), warning = function(w) stop(conditionMessage(w))),
                  error = function(e) stop(bundle_dir_error(sprintf("cannot create %s: %s", path, conditionMessage(e)))))
  failed <- NULL
  note <- function(msg) if (is.null(failed)) failed <<- msg
  # Warnings are recorded and muffled rather than raised, so close() always runs to the end and
  # the connection is released even after a failed write.
  tryCatch(
    withCallingHandlers(writeBin(bytes, con), warning = function(w) {
      note(conditionMessage(w))
      invokeRestart("muffleWarning")
    }),
    error = function(e) note(conditionMessage(e))
  )
  tryCatch(
    withCallingHandlers(close(con), warning = function(w) {
      note(conditionMessage(w))
      invokeRestart("muffleWarning")
    }),
    error = function(e) note(conditionMessage(e))
  )
  if (is.null(failed)) {
    size <- file.size(path)
    if (is.na(size) || size != length(bytes)) {
      failed <- sprintf("wrote %s of %d bytes", format(size), length(bytes))
    }
  }
  if (!is.null(failed)) {
    stop(bundle_io_error(sprintf("writing %s failed (disk full or I/O error?): %s", path, failed)))
  }
  invisible(path)
}

json_text <- function(x, pretty = TRUE) {
  as.character(jsonlite::toJSON(x, auto_unbox = TRUE, pretty = pretty, digits = NA, null = "null", na = "null"))
}

check_predict_args <- function(predict_args) {
  if (is.null(predict_args)) return(list())
  ok <- is.list(predict_args) && (length(predict_args) == 0L ||
    (!is.null(names(predict_args)) && all(nzchar(names(predict_args))) && !anyDuplicated(names(predict_args))))
  if (!ok) stop(bundle_input_error("predict_args must be a named list, e.g. list(type = \"prob\")"))
  bad <- names(predict_args)[!vapply(predict_args, function(v) is.atomic(v) && !is.null(v) && length(v) >= 1L && !is.factor(v), NA)]
  if (length(bad) > 0L) {
    stop(bundle_input_error(sprintf(
      "predict_args %s: each must be a number, string or logical (or a vector of them), stored in bundle.json",
      paste(bad, collapse = ", "))))
  }
  predict_args
}

check_metric_list <- function(x, what) {
  if (is.null(x) || length(x) == 0L) return(list())
  if (!is.list(x) || is.null(names(x)) || any(!nzchar(names(x))) || anyDuplicated(names(x))) {
    stop(bundle_input_error(sprintf("%s must be a named list", what)))
  }
  x
}

#' Write a model bundle
#'
#' Writes everything needed to serve `model` into the directory `dir`: the model
#' (`model.rds`), `bundle.json` (format version, features and their types from `example`,
#' output description, `predict_args`, packages and versions, checksums, metrics and params)
#' and an `MLmodel` file for the MLflow UI. See `docs/bundle-format.md` in the repository.
#'
#' The bundle is written into a temporary folder next to `dir` and renamed into place, and every
#' write is checked, so `dir` is either the complete new bundle or untouched. A folder that
#' cannot be created or written is a `bundle_dir_error` (a `config_error`); a failed write such
#' as a full disk is a `bundle_io_error` (a `retryable_error`).
#'
#' Before anything is written, `predict()` is called on `example` with `predict_args`, and its
#' result decides what the server answers: numbers, classes, logicals, or class probabilities
#' (a matrix or data frame with one named column per class).
#'
#' The model is stripped of its training data first ([strip_model()]): a bundle is stored in
#' MLflow and the object store, and must not carry the rows it was fitted on. `bundle.json`
#' records `model.stripped` and the size before (`model.unstripped_bytes`) and after (`model.bytes`).
#'
#' @param model A fitted model with a `predict` method taking `newdata`.
#' @param dir Directory to create (replaced if it exists).
#' @param example A data frame of a few input rows. Its columns are the features, in order,
#'   and their types (numeric, integer, logical, factor with its levels, character) are what
#'   the server accepts.
#' @param predict_args Named list of further arguments to `predict()`, e.g.
#'   `list(type = "prob")` or `list(type = "response")`; numbers, strings or logicals.
#' @param info Named list of extra information recorded in `bundle.json`: `metrics`, `params`,
#'   `run_id`.
#' @param strip `TRUE` (the default) removes the training data from the model with
#'   [strip_model()] before it is written, after checking the stripped model predicts `example`
#'   identically; `FALSE` writes the model as fitted, training rows included.
#' @param reference `NULL`, or a data frame of training rows with the example's feature
#'   columns: the drift monitor's training reference ([build_reference()]) is written into the
#'   bundle's `reference/` folder, a sample of at most `reference_rows` of these rows with the
#'   model's predictions on them and per-feature summaries of all of them. `bundle.json` then
#'   records `reference` (folder, files, training and sample rows).
#' @param reference_rows Most rows of the reference sample; 0 writes no reference.
#' @return `dir`, invisibly.
#' @examples
#' dir <- file.path(tempdir(), "glm-bundle")
#' fit <- glm(am ~ wt + hp, data = mtcars, family = binomial)
#' write_bundle(fit, dir, mtcars[1:3, c("wt", "hp")], predict_args = list(type = "response"))
#' list.files(dir)
#' @export
write_bundle <- function(model, dir, example, predict_args = list(), info = list(), strip = TRUE, reference = NULL,
                         reference_rows = reference_default_rows) {
  if (is.null(model)) stop(bundle_input_error("model is NULL"))
  if (!has_predict_method(model)) {
    stop(bundle_input_error(sprintf("the model (class %s) has no predict method", paste(class(model), collapse = "/"))))
  }
  features <- feature_specs(example, model)
  predict_args <- check_predict_args(predict_args)
  example <- typed_frame(lapply(example, identity), features)
  pred <- tryCatch(predict_raw(model, example, predict_args), error = function(e) {
    stop(bundle_input_error(sprintf("predict() on the example rows failed: %s", conditionMessage(e))))
  })
  output <- describe_output(pred, nrow(example))
  if (is.character(output)) {
    stop(bundle_input_error(sprintf(paste("predict() on the example returned %s: a bundle serves a vector",
                                          "(numbers, classes, logicals) or one named numeric column per class"), output)))
  }
  full_bytes <- NULL
  if (isTRUE(strip)) {
    full_bytes <- length(serialize(model, connection = NULL, xdr = TRUE, version = 3L))
    model <- strip_for_bundle(model, example, predict_args)
  }
  packages <- model_packages(model)
  model_bytes <- serialize(model, connection = NULL, xdr = TRUE, version = 3L)
  ref <- NULL
  if (!is.null(reference) && isTRUE(reference_rows > 0)) {
    # The stripped model predicts the sample (it predicts exactly as the full one, checked above),
    # under a fixed seed like the strip check: some predict methods break ties at random.
    ref <- build_reference(reference, features, function(d) {
      with_seed(shape_prediction(predict_raw(model, d, predict_args), output, nrow(d)))
    }, rows = reference_rows)
  }
  manifest <- list(
    format = bundle_format_name,
    format_version = bundle_format_version(),
    created_utc = format(Sys.time(), "%Y-%m-%dT%H:%M:%OS3Z", tz = "UTC"),
    r_version = paste(R.version$major, R.version$minor, sep = "."),
    model = list(file = "model.rds", class = I(class(model)), bytes = length(model_bytes),
                 md5 = raw_md5(model_bytes), stripped = isTRUE(strip), unstripped_bytes = full_bytes),
    packages = if (length(packages)) stats::setNames(lapply(packages, function(p) as.character(utils::packageVersion(p))), packages) else structure(list(), names = character()),
    features = features,
    example = lapply(example, function(col) I(if (is.factor(col)) as.character(col) else col)),
    predict_args = if (length(predict_args)) predict_args else structure(list(), names = character()),
    output = output,
    run_id = info$run_id,
    metrics = check_metric_list(info$metrics, "metrics"),
    params = check_metric_list(info$params, "params"),
    reference = if (!is.null(ref)) list(dir = rmlops_contract()$monitor$referenceDir, files = I(reference_files),
                                        training_rows = ref$summary$training_rows, sample_rows = ref$summary$sample_rows)
  )
  if (length(manifest$metrics) == 0L) manifest$metrics <- structure(list(), names = character())
  if (length(manifest$params) == 0L) manifest$params <- structure(list(), names = character())
  files <- list(
    model.rds = model_bytes,
    bundle.json = charToRaw(enc2utf8(paste0(json_text(manifest), "\n"))),
    MLmodel = charToRaw(enc2utf8(paste0(paste(mlmodel_text(manifest), collapse = "\n"), "\n")))
  )
  if (!is.null(ref)) files <- c(files, reference_file_bytes(ref))
  write_dir_atomically(dir, files)
}

raw_md5 <- function(bytes) {
  f <- tempfile("md5-")
  on.exit(unlink(f), add = TRUE)
  writeBin(bytes, f)
  unname(tools::md5sum(f))
}

# Writes `files` (name -> raw) into a temporary folder beside `dir`, then renames it into place.
write_dir_atomically <- function(dir, files, write = write_bytes_checked) {
  dir <- normalizePath(dir, mustWork = FALSE)
  parent <- dirname(dir)
  if (!dir.exists(parent)) {
    ok <- tryCatch(suppressWarnings(dir.create(parent, recursive = TRUE)), error = function(e) FALSE)
    if (!ok || !dir.exists(parent)) {
      stop(bundle_dir_error(sprintf("cannot create the folder %s for the bundle: a path component is not a writable directory", parent)))
    }
  }
  tmp <- tempfile(paste0(".", basename(dir), ".tmp-"), tmpdir = parent)
  if (!suppressWarnings(dir.create(tmp))) {
    # access(2) sees permissions and read-only mounts (even for root); if it allows writing, the
    # failure was something else, such as no space or inodes left.
    if (file.access(parent, 2L) == 0L) {
      stop(bundle_io_error(sprintf("cannot create a folder in %s although it is writable (disk full?)", parent)))
    }
    stop(bundle_dir_error(sprintf("cannot write in %s (permission denied or read-only file system)", parent)))
  }
  done <- FALSE
  on.exit(if (!done) unlink(tmp, recursive = TRUE, force = TRUE), add = TRUE)
  for (name in names(files)) {
    # A name with a folder (reference/summary.json): the folder is made inside the new bundle.
    if (dirname(name) != ".") dir.create(file.path(tmp, dirname(name)), recursive = TRUE, showWarnings = FALSE)
    write(file.path(tmp, name), files[[name]])
  }
  old <- NULL
  if (file.exists(dir)) {
    old <- tempfile(paste0(".", basename(dir), ".old-"), tmpdir = parent)
    if (!suppressWarnings(file.rename(dir, old))) {
      stop(bundle_dir_error(sprintf("cannot replace the existing %s", dir)))
    }
  }
  if (!suppressWarnings(file.rename(tmp, dir))) {
    if (!is.null(old)) suppressWarnings(file.rename(old, dir))
    stop(bundle_io_error(sprintf("cannot rename the new bundle into %s", dir)))
  }
  done <- TRUE
  if (!is.null(old)) unlink(old, recursive = TRUE, force = TRUE)
  invisible(dir)
}

mlflow_type <- function(type) {
  switch(type, numeric = "double", integer = "long", logical = "boolean", "string")
}

# YAML written by hand (no yaml package in the images); strings are JSON-quoted, which YAML accepts.
mlmodel_text <- function(manifest) {
  q <- function(x) as.character(jsonlite::toJSON(x, auto_unbox = TRUE))
  inputs <- lapply(manifest$features, function(f) list(name = f$name, type = mlflow_type(f$type), required = TRUE))
  out_type <- switch(manifest$output$kind, class = "string", logical = "boolean", "double")
  outputs <- lapply(unlist(manifest$output$names), function(n) list(name = n, type = out_type, required = TRUE))
  c(
    "artifact_path: model",
    paste0("run_id: ", q(manifest$run_id %||% "")),
    paste0("utc_time_created: ", q(manifest$created_utc)),
    "flavors:",
    "  rmlops_r:",
    "    bundle: bundle.json",
    "    model_file: model.rds",
    paste0("    format_version: ", manifest$format_version),
    paste0("    r_version: ", q(manifest$r_version)),
    paste0("    packages: ", q(manifest$packages)),
    "signature:",
    paste0("  inputs: ", q(q(inputs))),
    paste0("  outputs: ", q(q(outputs)))
  )
}

# ---- reading --------------------------------------------------------------------------------

bundle_corrupt_error <- function(message) bundle_error(message, class = "bundle_corrupt_error")
bundle_version_error <- function(message) bundle_error(message, class = "bundle_version_error")
bundle_package_error <- function(message) bundle_error(message, class = "bundle_package_error")

read_manifest <- function(dir) {
  path <- file.path(dir, "bundle.json")
  if (!file.exists(path)) {
    if (file.exists(file.path(dir, "prototype.json"))) {
      stop(bundle_version_error(sprintf(paste(
        "%s is a bundle of the unversioned format written before format version 1 (prototype.json,",
        "metadata.json): this server reads format version %d only; retrain the model"), dir, bundle_format_version())))
    }
    stop(bundle_corrupt_error(sprintf("%s is not a model bundle: bundle.json is missing", dir)))
  }
  manifest <- tryCatch(jsonlite::read_json(path, simplifyVector = FALSE), error = function(e) {
    stop(bundle_corrupt_error(sprintf("%s/bundle.json is not valid JSON: %s", dir, conditionMessage(e))))
  })
  if (!is.list(manifest) || !identical(manifest$format, bundle_format_name)) {
    stop(bundle_corrupt_error(sprintf("%s/bundle.json is not an rmlops bundle manifest (format is not '%s')",
                                      dir, bundle_format_name)))
  }
  version <- manifest$format_version
  if (!identical(version, bundle_format_version())) {
    stop(bundle_version_error(sprintf(
      "%s is a bundle of format version %s: this server reads format version %d only; use the rmlops version that wrote it, or retrain",
      dir, format(version %||% "(none)"), bundle_format_version())))
  }
  check_manifest(manifest, dir)
}

check_manifest <- function(m, dir) {
  fail <- function(what) stop(bundle_corrupt_error(sprintf("%s/bundle.json: %s", dir, what)))
  if (!is.list(m$features) || length(m$features) == 0L) fail("no features")
  for (f in m$features) {
    if (!is.character(f$name) || !isTRUE(f$type %in% feature_types)) fail("a feature without a name or a known type")
    if (f$type == "factor" && length(f$levels) == 0L) fail(sprintf("factor feature '%s' without levels", f$name))
  }
  names <- vapply(m$features, function(f) f$name, "")
  if (anyDuplicated(names)) fail("duplicate feature names")
  if (!isTRUE(m$output$kind %in% c("numeric", "class", "logical", "probabilities"))) fail("unknown output kind")
  if (!is.list(m$example) || !setequal(names(m$example), names)) fail("the example does not match the features")
  if (!is.character(m$model$md5)) fail("no model checksum")
  m$feature_names <- names
  m
}

load_bundle_packages <- function(packages, dir) {
  for (p in names(packages)) {
    ok <- suppressWarnings(requireNamespace(p, quietly = TRUE))
    if (!ok) {
      stop(bundle_package_error(sprintf(
        "the model in %s needs the R package %s (version %s when it was written), which is not installed here: add it to the serving image",
        dir, p, packages[[p]])))
    }
  }
  invisible()
}

#' Read a model bundle
#'
#' Checks the format version and the model's checksum, loads the packages the model needs,
#' reads the model and checks it predicts its own example rows as recorded. Errors are classed:
#' `bundle_corrupt_error`, `bundle_version_error`, `bundle_package_error` (all `bundle_error`).
#'
#' @param dir A directory written by [write_bundle()].
#' @return A list: `model`, `features` (name, type, levels), `feature_names`, `output` (kind,
#'   names), `predict_args`, `manifest` (all of `bundle.json`) and `dir`.
#' @examples
#' dir <- file.path(tempdir(), "cars-bundle-2")
#' write_bundle(lm(dist ~ speed, data = cars), dir, example = cars[1:3, "speed", drop = FALSE])
#' b <- read_bundle(dir)
#' b$output$kind
#' @export
read_bundle <- function(dir) {
  if (!dir.exists(dir)) stop(bundle_corrupt_error(sprintf("bundle directory %s does not exist", dir)))
  manifest <- read_manifest(dir)
  model_path <- file.path(dir, manifest$model$file %||% "model.rds")
  if (!file.exists(model_path)) stop(bundle_corrupt_error(sprintf("%s is not a model bundle: model.rds is missing", dir)))
  if (!identical(unname(tools::md5sum(model_path)), manifest$model$md5)) {
    stop(bundle_corrupt_error(sprintf("%s/model.rds does not match its checksum in bundle.json: the file is corrupt or incomplete", dir)))
  }
  load_bundle_packages(manifest$packages, dir)
  model <- tryCatch(readRDS(model_path), error = function(e) {
    stop(bundle_corrupt_error(sprintf("cannot read %s: %s", model_path, conditionMessage(e))))
  })
  bundle <- list(
    model = model,
    features = manifest$features,
    feature_names = manifest$feature_names,
    output = manifest$output,
    predict_args = lapply(manifest$predict_args %||% list(), unlist),
    manifest = manifest,
    dir = dir
  )
  check_bundle(bundle)
}

bundle_example <- function(bundle) {
  ex <- bundle$manifest$example
  typed_frame(lapply(bundle$feature_names, function(n) unlist(ex[[n]])), bundle$features)
}

#' Check that a bundle can serve
#'
#' Loads the model's packages and predicts the bundle's example rows, checking the output has
#' the recorded kind and classes. The server calls this before it reports ready.
#' @param bundle A bundle from [read_bundle()].
#' @return `bundle`, invisibly; a `bundle_error` if it cannot serve.
#' @export
check_bundle <- function(bundle) {
  where <- bundle$dir %||% "the bundle"
  load_bundle_packages(bundle$manifest$packages, where)
  if (!has_predict_method(bundle$model)) {
    stop(bundle_corrupt_error(sprintf("the model in %s (class %s) has no predict method", where,
                                      paste(class(bundle$model), collapse = "/"))))
  }
  tryCatch(predict_bundle(bundle, bundle_example(bundle)), error = function(e) {
    stop(bundle_corrupt_error(sprintf("the model in %s cannot predict its own example rows: %s", where, conditionMessage(e))))
  })
  invisible(bundle)
}
