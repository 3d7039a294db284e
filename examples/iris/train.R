# PLACEHOLDER written by the TypeScript side so the example app synthesizes; the R side replaces it.
# The iris classifier as a user script: train() fits the model and returns it with its metrics.
train <- function() {
  set.seed(42)
  idx <- sample(nrow(iris), 120)
  fit <- randomForest::randomForest(Species ~ ., data = iris[idx, ], ntree = 100)
  holdout <- iris[-idx, ]
  list(
    model = fit,
    metrics = list(accuracy = mean(predict(fit, holdout) == holdout$Species)),
    params = list(ntree = 100),
    example = head(iris[, 1:4], 3),
    predict_args = list(type = "response")
  )
}
