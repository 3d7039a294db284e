# The model bundle: a directory any R model with a `predict` method can be served from.
#   model.rds       the fitted model
#   prototype.json  input features (names, types), output name/type/levels, an example row
#   metadata.json   R and package versions, run id, metrics
#   MLmodel         so the MLflow UI recognises the directory as a model (with a signature)

bundle_files <- c("model.rds", "prototype.json", "metadata.json", "MLmodel")

make_prototype <- function(features, target, output_name = "prediction") {
  numeric_cols <- vapply(features, is.numeric, NA)
  if (!all(numeric_cols)) {
    stop(sprintf("only numeric features are supported, not: %s",
                 paste(names(features)[!numeric_cols], collapse = ", ")))
  }
  list(
    features = lapply(names(features), function(n) list(name = n, type = "double")),
    output = list(
      name = output_name,
      type = if (is.factor(target)) "string" else "double",
      levels = if (is.factor(target)) levels(target) else NULL
    ),
    example = lapply(as.list(features[1L, , drop = FALSE]), unname)
  )
}

# Normalises a prototype read from JSON into what the codec uses.
normalise_prototype <- function(proto) {
  names <- vapply(proto$features, function(f) f$name, "")
  if (length(names) == 0L || anyDuplicated(names)) stop("prototype.json: feature names must be non-empty and unique")
  proto$feature_names <- names
  proto
}

package_versions <- function(packages) {
  stats::setNames(lapply(packages, function(p) as.character(utils::packageVersion(p))), packages)
}

write_bundle <- function(dir, model, prototype, metadata) {
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  saveRDS(model, file.path(dir, "model.rds"))
  write_json_file(prototype, file.path(dir, "prototype.json"))
  write_json_file(metadata, file.path(dir, "metadata.json"))
  writeLines(mlmodel_text(prototype, metadata), file.path(dir, "MLmodel"))
  invisible(dir)
}

write_json_file <- function(x, path) {
  writeLines(as.character(jsonlite::toJSON(x, auto_unbox = TRUE, pretty = TRUE, digits = NA, null = "null")), path)
}

# YAML written by hand (no yaml package in the images); strings are JSON-quoted, which YAML accepts.
mlmodel_text <- function(prototype, metadata) {
  q <- function(x) as.character(jsonlite::toJSON(x, auto_unbox = TRUE))
  inputs <- lapply(prototype$features, function(f) list(name = f$name, type = f$type, required = TRUE))
  outputs <- list(list(name = prototype$output$name, type = prototype$output$type, required = TRUE))
  c(
    "artifact_path: model",
    paste0("run_id: ", q(metadata$run_id %||% "")),
    paste0("utc_time_created: ", q(metadata$created_utc)),
    "flavors:",
    "  rmlops_r:",
    "    model_file: model.rds",
    "    prototype: prototype.json",
    "    metadata: metadata.json",
    paste0("    r_version: ", q(metadata$r_version)),
    paste0("    packages: ", q(metadata$packages)),
    "signature:",
    paste0("  inputs: ", q(q(inputs))),
    paste0("  outputs: ", q(q(outputs)))
  )
}

`%||%` <- function(a, b) if (is.null(a)) b else a

has_predict_method <- function(model) {
  any(vapply(class(model), function(cl) !is.null(utils::getS3method("predict", cl, optional = TRUE)), NA)) ||
    isS4(model) && methods::existsMethod("predict", class(model))
}

read_bundle <- function(dir) {
  missing <- bundle_files[!file.exists(file.path(dir, bundle_files))]
  if (length(missing) > 0L) {
    stop(sprintf("%s is not a model bundle: missing %s", dir, paste(missing, collapse = ", ")))
  }
  metadata <- jsonlite::read_json(file.path(dir, "metadata.json"), simplifyVector = TRUE)
  load_model_packages(metadata)
  model <- readRDS(file.path(dir, "model.rds"))
  prototype <- normalise_prototype(jsonlite::read_json(file.path(dir, "prototype.json"), simplifyVector = FALSE))
  check_bundle(list(model = model, prototype = prototype, metadata = metadata), dir)
}

# Loading the namespaces registers the S3 predict methods the model needs. A bundle read in
# another process (the server's loader child) needs this again where it is served.
load_model_packages <- function(metadata) {
  for (pkg in names(metadata$packages)) loadNamespace(pkg)
  invisible()
}

# A bundle that cannot predict its own example row must not be reported ready.
check_bundle <- function(bundle, where = "the bundle") {
  load_model_packages(bundle$metadata)
  if (!has_predict_method(bundle$model)) {
    stop(sprintf("the model in %s (class %s) has no predict method", where, paste(class(bundle$model), collapse = "/")))
  }
  proto <- bundle$prototype
  example <- as.data.frame(lapply(proto$example, as.numeric))[proto$feature_names]
  predict_bundle(bundle, example)
  bundle
}

predict_bundle <- function(bundle, newdata) {
  args <- c(list(bundle$model, newdata = newdata), bundle$metadata$predict_args)
  pred <- do.call(stats::predict, args)
  if (is.factor(pred)) pred <- as.character(pred)
  if (length(pred) != nrow(newdata)) {
    stop(sprintf("predict() returned %d values for %d rows", length(pred), nrow(newdata)))
  }
  unname(pred)
}
