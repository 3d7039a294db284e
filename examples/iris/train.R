# Example user training script: a randomForest classifier of iris species.
#
# rmlops sources this file and calls train(); everything else (the MLflow run, logging, the
# bundle, registration and the quality-gated alias) is done by rmlops::run_training().
# Quality gate for this model: QUALITY_METRIC=accuracy, QUALITY_DIRECTION=higher.

# Holdout indices with every class in the same proportion as in y.
stratified_split <- function(y, test_fraction, seed) {
  set.seed(seed)
  test <- unlist(lapply(split(seq_along(y), y), function(idx) idx[sample.int(length(idx), round(length(idx) * test_fraction))]))
  sort(unname(test))
}

classification_metrics <- function(truth, predicted) {
  truth <- factor(truth)
  predicted <- factor(predicted, levels = levels(truth))
  cm <- table(truth, predicted)
  n <- sum(cm)
  tp <- diag(cm)
  precision <- ifelse(colSums(cm) > 0, tp / colSums(cm), 0)
  recall <- ifelse(rowSums(cm) > 0, tp / rowSums(cm), 0)
  f1 <- ifelse(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
  accuracy <- sum(tp) / n
  expected <- sum(rowSums(cm) * colSums(cm)) / n^2
  kappa <- if (expected < 1) (accuracy - expected) / (1 - expected) else 1
  per_class <- unlist(lapply(levels(truth), function(l) {
    stats::setNames(c(precision[[l]], recall[[l]], f1[[l]]), paste0(c("precision_", "recall_", "f1_"), l))
  }))
  c(list(accuracy = accuracy, precision_macro = mean(precision), recall_macro = mean(recall),
         f1_macro = mean(f1), kappa = kappa), as.list(per_class))
}

train <- function(seed = 42L, test_fraction = 0.3, ntree = 100L) {
  data <- datasets::iris
  features <- data[, 1:4]
  test <- stratified_split(data$Species, test_fraction, seed)
  set.seed(seed)
  model <- randomForest::randomForest(x = features[-test, ], y = data$Species[-test], ntree = ntree)
  metrics <- classification_metrics(data$Species[test], stats::predict(model, features[test, ]))
  metrics$oob_error <- unname(model$err.rate[ntree, "OOB"])
  list(
    model = model,
    metrics = metrics,
    params = list(model = "randomForest", ntree = ntree, mtry = model$mtry, seed = seed,
                  test_fraction = test_fraction, n_train = nrow(features) - length(test), n_test = length(test)),
    # The served features and their types are these columns: four numbers.
    example = features[c(1, 51, 101), ],
    # The server answers the class; list(type = "prob") would answer one probability per class.
    predict_args = list(),
    # The training rows: rmlops keeps a seeded sample of at most 1000 of them (RMLOPS_REFERENCE_ROWS)
    # with the model's predictions, and per-feature summaries, as the drift monitor's reference.
    reference = features[-test, ]
  )
}
