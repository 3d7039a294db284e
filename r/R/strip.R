# Stripping a fitted model of its training data before it is bundled. Fitted R models keep the
# rows they were fitted on (lm/glm `model`, `data`, `y`, residuals, fitted values, the QR
# factor's n rows; rpart `where`; randomForest `predicted`, `votes`, `y`), and formulas and
# `terms` keep the environment they were created in, which is often a function frame holding the
# whole training data frame. A bundle lands in MLflow and the object store, so it must hold only
# what predict() needs. One S3 method per model engine; users add methods for other classes.

#' Remove training data from a fitted model before it is bundled
#'
#' Returns the model without what `predict(model, newdata = ...)` does not need: the training
#' rows, residuals, fitted values, weights, response, model frame, row names, the data part of
#' the QR decomposition, and the environments captured by formulas and `terms` (which often hold
#' the training data frame). [write_bundle()] calls it unless `strip = FALSE`, and checks that the
#' stripped model predicts the example rows exactly as the full one did.
#'
#' Methods are provided for `lm`, `glm` (through `lm`), `randomForest` and `rpart`. Any other
#' class is returned unchanged by the default method: to strip it, define an S3 method
#' `strip_model.<class> <- function(model, ...)` in the training script (or a package) that
#' returns the model without its training data; [write_bundle()] dispatches to it. The helpers
#' [strip_environment()] and [strip_call()] do the usual parts.
#'
#' A stripped `lm`/`glm` predicts point values (`type = "link"`, `"response"`), not standard
#' errors or intervals (they need the residuals): keep the full model for those.
#' @param model A fitted model.
#' @param ... Unused; for methods.
#' @return The model, of the same class, without its training data.
#' @examples
#' fit <- glm(am ~ wt + hp, data = mtcars, family = binomial)
#' small <- strip_model(fit)
#' length(serialize(small, NULL)) < length(serialize(fit, NULL))
#' all.equal(predict(small, mtcars[1:3, ], type = "response"),
#'           predict(fit, mtcars[1:3, ], type = "response"))
#' @export
strip_model <- function(model, ...) UseMethod("strip_model")

#' @rdname strip_model
#' @export
strip_model.default <- function(model, ...) model

# Fields of lm and glm objects holding one value per training row, or the rows themselves.
# predict() with newdata reads none of them (it reads coefficients, rank, qr$pivot, terms,
# xlevels, contrasts, family, and call$offset).
lm_row_fields <- c("residuals", "fitted.values", "effects", "weights", "prior.weights", "linear.predictors",
                   "y", "x", "model", "data", "offset", "na.action")

#' @rdname strip_model
#' @export
strip_model.lm <- function(model, ...) {
  model[intersect(lm_row_fields, names(model))] <- NULL
  model$qr <- strip_qr(model$qr)
  model$terms <- strip_environment(model$terms)
  if (!is.null(model$formula)) model$formula <- strip_environment(model$formula)
  if (!is.null(model$call)) model$call <- strip_call(model$call)
  model
}

# Keeps the triangular factor R (what predict's `qr$pivot` and any qr.R() need) and drops the
# n - p rows below it and the Householder vectors under its diagonal: both are the training data,
# transformed. Row names are training row names (often customer or record ids).
strip_qr <- function(qr) {
  if (!is.list(qr) || !is.matrix(qr$qr)) return(qr)
  p <- min(dim(qr$qr))
  r <- qr$qr[seq_len(p), , drop = FALSE]
  r[row(r) > col(r)] <- 0
  dimnames(r) <- list(NULL, colnames(qr$qr))
  qr$qr <- r
  qr
}

#' @rdname strip_model
#' @export
strip_model.randomForest <- function(model, ...) {
  # Per training row: OOB predictions, votes and counts, the response, in-bag matrix, proximity,
  # casewise importance; `test` holds predictions for a test set given at fit time.
  drop <- c("predicted", "votes", "oob.times", "y", "proximity", "inbag", "localImportance", "test", "na.action")
  model[intersect(drop, names(model))] <- NULL
  if (!is.null(model$terms)) model$terms <- strip_environment(model$terms)
  if (!is.null(model$call)) model$call <- strip_call(model$call)
  model
}

#' @rdname strip_model
#' @export
strip_model.rpart <- function(model, ...) {
  # `where` is each training row's leaf (named by row name); y, x and model are kept on request.
  model[intersect(c("where", "y", "x", "model"), names(model))] <- NULL
  model$terms <- strip_environment(model$terms)
  if (!is.null(model$call)) model$call <- strip_call(model$call)
  model
}

#' Helpers for strip_model() methods
#'
#' `strip_environment()` points a formula's or `terms` object's environment at the global
#' environment (saved as a reference, not its contents): the formula still finds functions such
#' as `poly()` on the search path, but no longer carries the variables of the frame it was created
#' in (often the training data). A formula using a variable of that frame other than the data
#' then fails to predict, which [write_bundle()] reports.
#' `strip_call()` keeps a model call's function and its arguments written as names or
#' expressions, and drops arguments that are values (a data frame passed with `do.call()` is
#' embedded in the call); a formula argument loses its environment.
#' @param x A formula or `terms` object (anything else is returned unchanged).
#' @param call A call, as in `model$call`.
#' @return `x` or `call` without the captured data.
#' @examples
#' make <- function(df) stats::terms(y ~ x, data = df)
#' tt <- make(data.frame(x = 1:3, y = 4:6))
#' exists("df", envir = environment(tt))
#' exists("df", envir = environment(strip_environment(tt)), inherits = FALSE)
#' strip_call(quote(lm(y ~ x, data = credit)))
#' @export
strip_environment <- function(x) {
  if (!is.null(attr(x, ".Environment"))) attr(x, ".Environment") <- globalenv()
  x
}

#' @rdname strip_environment
#' @export
strip_call <- function(call) {
  if (!is.call(call)) return(call)
  parts <- as.list(call)
  keep <- vapply(parts, function(a) is.symbol(a) || is.call(a) || (is.atomic(a) && length(a) <= 1L), NA)
  keep[[1L]] <- TRUE # the function called, even when do.call() put the function itself there
  parts <- lapply(parts[keep], strip_environment)
  as.call(parts)
}

# Checks the stripped model still predicts `example` exactly as the full one did; a method that
# removed too much is a configuration error naming the fix, never a silently different model.
# Both predict under the same seed: some predict methods break ties at random (randomForest).
strip_for_bundle <- function(model, example, predict_args) {
  stripped <- strip_model(model)
  pred <- with_seed(predict_raw(model, example, predict_args))
  again <- tryCatch(with_seed(predict_raw(stripped, example, predict_args)), error = function(e) e)
  if (inherits(again, "error") || !identical(again, pred)) {
    why <- if (inherits(again, "error")) sprintf("fails: %s", conditionMessage(again)) else "returns other values"
    stop(bundle_input_error(sprintf(paste(
      "predict() on the example rows with the model stripped of its training data (class %s) %s;",
      "keep the full model (write_bundle(strip = FALSE), or the environment variable %s=true for training),",
      "or define a strip_model.%s method that keeps what predict() needs"),
      paste(class(model), collapse = "/"), why, contract_env_name(rmlops_contract(), "keepTrainingData"), class(model)[[1L]])))
  }
  stripped
}

# Evaluates `expr` with a fixed seed, leaving the caller's random number stream as it was.
with_seed <- function(expr, seed = 1L) {
  old <- get0(".Random.seed", envir = globalenv(), inherits = FALSE)
  on.exit(if (is.null(old)) rm(".Random.seed", envir = globalenv()) else assign(".Random.seed", old, envir = globalenv()))
  set.seed(seed)
  expr
}
