# The training reference the drift monitor compares a window of served requests with: a bounded,
# seeded sample of the training features with the model's predictions on it, and per-feature
# summaries computed on all the training rows. It lives in the bundle's `reference/` folder
# (MONITOR.referenceDir in the contract), so it goes to MLflow with the model version. Bundles are
# otherwise stripped of training data (strip.R): this sample is the one deliberate exception, of
# at most `rows` rows, and `rows = 0` leaves it out (docs/monitoring-drift.md).

reference_format_name <- "rmlops-reference"
reference_format_version <- 1L
reference_files <- c("summary.json", "sample.csv")
# Default number of sampled rows; the contract's `referenceRows` variable overrides it.
reference_default_rows <- 1000L
# Seed of the sample: the same training data gives the same reference.
reference_seed <- 20261205L
# Quantiles whose values cut a numeric feature into the bins of its PSI (deciles: 10 bins).
reference_probs <- seq(0.1, 0.9, by = 0.1)
# A character feature keeps at most this many of its most frequent values; the rest is `(other)`.
reference_max_levels <- 50L

#' The training reference of a model bundle
#'
#' `build_reference()` describes the training data for the drift monitor: per-feature summaries
#' of all the rows in `data` (type; `n`, missing, mean, sd, min, max and the decile cut points
#' with each bin's share for numbers; the share of each level for factors, logicals and
#' characters) and a seeded random sample of at most `rows` rows (factor levels kept) with the
#' model's predictions on them. [write_bundle()] stores it in the bundle's `reference/` folder
#' (`summary.json`, `sample.csv`); `read_reference()` reads that folder back.
#'
#' The sample is training data, kept on purpose and bounded: set `rows = 0` (or the contract's
#' `referenceRows` environment variable, `RMLOPS_REFERENCE_ROWS=0`, for training) to leave the
#' reference out; the monitor then has nothing to compare with.
#'
#' @param data A data frame of training rows holding at least the features' columns (others are
#'   ignored).
#' @param features Feature specifications, as [write_bundle()] derives them from the example.
#' @param predict A function of a data frame returning the model's predictions (a vector, or a
#'   matrix with one named column per class).
#' @param rows Most rows in the sample.
#' @param seed Seed of the sample.
#' @param dir A bundle's `reference/` folder.
#' @return `build_reference()`: a list with `summary` (what `summary.json` holds) and `sample` (a
#'   data frame: the features, then the predictions in columns named `.prediction` or
#'   `.prob.<class>`). `read_reference()`: the same list, the sample typed as the features.
#' @examples
#' feats <- list(list(name = "speed", type = "numeric"))
#' fit <- lm(dist ~ speed, data = cars)
#' ref <- build_reference(cars, feats, function(d) predict(fit, d), rows = 20)
#' ref$summary$features[[1]]$breaks
#' nrow(ref$sample)
#' @export
build_reference <- function(data, features, predict, rows = reference_default_rows, seed = reference_seed) {
  if (!is.data.frame(data)) {
    stop(bundle_input_error(sprintf("the reference data must be a data frame of training rows, not %s",
                                    paste(class(data), collapse = "/"))))
  }
  names <- vapply(features, function(f) f$name, "")
  missing <- setdiff(names, names(data))
  if (length(missing) > 0L) {
    stop(bundle_input_error(sprintf("the reference data lacks the feature column(s) %s", paste(missing, collapse = ", "))))
  }
  if (nrow(data) < 1L) stop(bundle_input_error("the reference data has no rows"))
  rows <- as.integer(rows)
  data <- data[, names, drop = FALSE]
  picked <- if (nrow(data) <= rows) seq_len(nrow(data)) else sort(with_seed(sample.int(nrow(data), rows), seed))
  # Typed as the served features: the sample reads back with the types and levels the server uses.
  sample <- typed_frame(lapply(data[picked, , drop = FALSE], function(col) if (is.factor(col)) as.character(col) else col), features)
  rownames(sample) <- NULL
  pred <- predict(sample)
  if (is.data.frame(pred)) pred <- as.matrix(pred)
  pred_cols <- if (is.matrix(pred)) {
    stats::setNames(lapply(seq_len(ncol(pred)), function(j) unname(pred[, j])), paste0(".prob.", colnames(pred)))
  } else {
    list(.prediction = if (is.factor(pred)) as.character(pred) else unname(pred))
  }
  summary <- list(
    format = reference_format_name,
    format_version = reference_format_version,
    seed = seed,
    training_rows = nrow(data),
    sample_rows = length(picked),
    features = lapply(features, function(f) feature_summary(data[[f$name]], f)),
    prediction = prediction_summary(pred)
  )
  list(summary = summary, sample = cbind(sample, as.data.frame(pred_cols, optional = TRUE, stringsAsFactors = FALSE)))
}

# One feature's summary. Numbers: moments and the decile cut points, with the share of the
# training rows in each bin (bins are right-closed; the first starts at -Inf, the last ends at
# +Inf). Everything else is categorical: the share of each level.
feature_summary <- function(x, spec) {
  out <- list(name = spec$name, type = spec$type, n = length(x), missing = sum(is.na(x)))
  if (spec$type %in% c("numeric", "integer")) {
    v <- as.numeric(x[!is.na(x)])
    breaks <- numeric_breaks(v)
    c(out, list(mean = if (length(v)) mean(v) else NA_real_, sd = if (length(v) > 1L) stats::sd(v) else NA_real_,
                min = if (length(v)) min(v) else NA_real_, max = if (length(v)) max(v) else NA_real_,
                breaks = I(breaks), shares = I(bin_shares(v, breaks))))
  } else {
    levels <- categorical_levels(x, spec)
    c(out, list(levels = I(levels), shares = I(level_shares(x, levels)$shares)))
  }
}

# Interior cut points: the distinct deciles. A constant feature gets its value as the one cut,
# so any other value in a window lands in the other bin (its PSI is then large, not zero).
numeric_breaks <- function(v) {
  if (length(v) == 0L) return(numeric())
  q <- unique(unname(stats::quantile(v, reference_probs, type = 7, names = FALSE)))
  if (length(q) == 0L) q <- v[[1L]]
  sort(q)
}

categorical_levels <- function(x, spec) {
  if (spec$type == "logical") return(c("FALSE", "TRUE"))
  if (spec$type == "factor") return(as.character(unlist(spec$levels)))
  if (length(spec$levels)) return(as.character(unlist(spec$levels)))
  counts <- sort(table(as.character(x[!is.na(x)])), decreasing = TRUE)
  utils::head(names(counts), reference_max_levels)
}

prediction_summary <- function(pred) {
  if (is.matrix(pred)) {
    classes <- colnames(pred)
    top <- classes[max.col(pred, ties.method = "first")]
    return(list(kind = "probabilities", statistic = "predicted class shares", levels = I(classes),
                shares = I(level_shares(top, classes)$shares)))
  }
  if (is.numeric(pred)) {
    v <- pred[!is.na(pred)]
    breaks <- numeric_breaks(v)
    return(list(kind = "numeric", statistic = "decile bins", breaks = I(breaks), shares = I(bin_shares(v, breaks)),
                mean = if (length(v)) mean(v) else NA_real_))
  }
  kind <- if (is.logical(pred)) "logical" else "class"
  values <- as.character(pred)
  levels <- if (is.factor(pred)) levels(pred) else sort(unique(values[!is.na(values)]))
  if (kind == "logical") levels <- c("FALSE", "TRUE")
  list(kind = kind, statistic = "class shares", levels = I(levels), shares = I(level_shares(values, levels)$shares))
}

#' @rdname build_reference
#' @export
read_reference <- function(dir) {
  paths <- file.path(dir, reference_files)
  if (!all(file.exists(paths))) {
    stop(config_error(sprintf("%s holds no training reference (%s): retrain the model with reference data (see ?build_reference)",
                              dir, paste(reference_files, collapse = ", "))))
  }
  summary <- tryCatch(jsonlite::read_json(paths[[1L]], simplifyVector = FALSE), error = function(e) {
    stop(config_error(sprintf("%s is not valid JSON: %s", paths[[1L]], conditionMessage(e))))
  })
  if (!identical(summary$format, reference_format_name) || !identical(summary$format_version, reference_format_version)) {
    stop(config_error(sprintf("%s is not an rmlops reference of format version %d", paths[[1L]], reference_format_version)))
  }
  features <- lapply(summary$features, function(f) {
    f$breaks <- as.numeric(unlist(f$breaks))
    f$shares <- as.numeric(unlist(f$shares))
    f$levels <- as.character(unlist(f$levels))
    f
  })
  summary$features <- features
  p <- summary$prediction
  p$breaks <- as.numeric(unlist(p$breaks))
  p$shares <- as.numeric(unlist(p$shares))
  p$levels <- as.character(unlist(p$levels))
  summary$prediction <- p
  raw <- utils::read.csv(paths[[2L]], check.names = FALSE, stringsAsFactors = FALSE, na.strings = "NA",
                         colClasses = "character")
  specs <- lapply(features, function(f) list(name = f$name, type = f$type, levels = I(f$levels)))
  names <- vapply(specs, function(f) f$name, "")
  if (!all(names %in% names(raw))) stop(config_error(sprintf("%s lacks feature columns", paths[[2L]])))
  sample <- typed_frame(lapply(names, function(n) raw[[n]]), specs)
  rest <- setdiff(names(raw), names)
  for (n in rest) {
    sample[[n]] <- if (p$kind %in% c("numeric", "probabilities")) as.numeric(raw[[n]]) else raw[[n]]
  }
  list(summary = summary, sample = sample)
}

# The bundle's files for a reference: name -> raw.
reference_file_bytes <- function(ref) {
  con <- textConnection("csv_lines", open = "w", local = TRUE)
  utils::write.csv(ref$sample, con, row.names = FALSE, na = "NA")
  close(con)
  stats::setNames(list(
    charToRaw(enc2utf8(paste0(json_text(ref$summary), "\n"))),
    charToRaw(enc2utf8(paste0(paste(csv_lines, collapse = "\n"), "\n")))
  ), paste(rmlops_contract()$monitor$referenceDir, reference_files, sep = "/"))
}

# Training rows a fitted model carries, when train() returned no `reference`: lm and glm keep
# their model frame (`model`) and glm its `data`. NULL when the features are not all there.
model_training_frame <- function(model, feature_names) {
  if (!is.list(model)) return(NULL)
  for (candidate in list(model$data, model$model)) {
    if (is.data.frame(candidate) && all(feature_names %in% names(candidate))) return(candidate)
  }
  NULL
}
