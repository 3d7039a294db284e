# Tests run against the package (installed, or loaded with pkgload): internal functions are
# reachable because testthat evaluates the tests in the package's namespace.
test_contract <- rmlops_contract()

# The repository's examples/ folder, when the tests run from a checkout (not under R CMD check).
examples_dir <- function() {
  dir <- Sys.getenv("RMLOPS_EXAMPLES", unset = "")
  if (!nzchar(dir)) dir <- file.path(testthat::test_path(), "..", "..", "..", "examples")
  if (dir.exists(dir)) normalizePath(dir) else NA_character_
}

# A fitted model, its example rows and predict arguments, for the bundle tests.
iris_rf <- function(ntree = 20L) {
  set.seed(1L)
  randomForest::randomForest(Species ~ ., data = datasets::iris, ntree = ntree)
}
