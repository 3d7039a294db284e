# Example user training script of a second team: a credit-default logistic regression (glm,
# binomial) with a factor column, on loan records simulated here in R from a fixed seed, so the
# data (and the model) is the same on every run and nothing is downloaded.
#
# rmlops sources this file and calls train(); everything else (the MLflow run, logging, the
# bundle, registration and the quality-gated alias) is done by rmlops::run_training().
# Quality gate for this model: QUALITY_METRIC=auc, QUALITY_DIRECTION=higher (e.g. threshold 0.7).

# The loan purposes, as the factor's levels (the served model accepts exactly these).
PURPOSES <- c("car", "education", "home", "business")

# n loan records with a known default mechanism: more debt per income, a younger borrower, a
# shorter employment and a business loan make a default more likely.
simulate_loans <- function(n, seed) {
  set.seed(seed)
  income <- round(stats::rlnorm(n, meanlog = log(42000), sdlog = 0.45))
  debt_ratio <- round(stats::rbeta(n, 2, 5), 3)
  age <- sample(21:70, n, replace = TRUE)
  years_employed <- pmin(age - 18L, stats::rpois(n, 6))
  purpose <- factor(sample(PURPOSES, n, replace = TRUE, prob = c(0.35, 0.15, 0.3, 0.2)), levels = PURPOSES)
  risk <- -2.2 + 4.0 * debt_ratio - 0.025 * (age - 40) - 0.08 * years_employed -
    0.4 * log(income / 42000) + c(car = 0, education = 0.3, home = -0.5, business = 0.9)[as.character(purpose)]
  default <- stats::rbinom(n, 1, stats::plogis(risk)) == 1
  data.frame(income = income, debt_ratio = debt_ratio, age = age, years_employed = years_employed,
             purpose = purpose, default = default)
}

# Area under the ROC curve: the probability that a random defaulter scores above a random payer.
auc <- function(score, truth) {
  ranks <- rank(score)
  n_pos <- sum(truth)
  n_neg <- length(truth) - n_pos
  (sum(ranks[truth]) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
}

train <- function(n = 4000L, seed = 2026L, test_fraction = 0.25) {
  data <- simulate_loans(n, seed)
  test <- sort(sample.int(n, round(n * test_fraction)))
  formula <- default ~ income + debt_ratio + age + years_employed + purpose
  model <- stats::glm(formula, family = stats::binomial(), data = data[-test, ])
  # The probability of default: predict(type = "response"), which the server passes on too.
  p <- stats::predict(model, newdata = data[test, ], type = "response")
  truth <- data$default[test]
  list(
    model = model,
    metrics = list(
      auc = auc(p, truth),
      accuracy = mean((p >= 0.5) == truth),
      log_loss = -mean(ifelse(truth, log(p), log(1 - p))),
      default_rate_test = mean(truth)
    ),
    params = list(model = "glm", family = "binomial", formula = deparse(formula), n = n, seed = seed,
                  test_fraction = test_fraction, n_train = n - length(test), n_test = length(test)),
    example = data[1:3, c("income", "debt_ratio", "age", "years_employed", "purpose")],
    predict_args = list(type = "response"),
    # The training rows, the drift monitor's reference (a sample of at most 1000 and summaries).
    reference = data[-test, ]
  )
}
