# Ports, paths and environment variable names shared with the TypeScript constructs.
# They come from contract.json (generated from lib/contract.ts) so the two sides cannot drift:
# R code refers to a variable by its contract key, never by its name.

read_contract <- function(path) {
  if (!file.exists(path)) {
    stop(sprintf("contract file %s not found: it must sit next to the R programs", path))
  }
  jsonlite::fromJSON(path, simplifyVector = TRUE)
}

# Value of the environment variable the contract calls `key`; `default` when unset or empty.
contract_env <- function(contract, key, default = NA_character_) {
  name <- contract$env[[key]]
  if (is.null(name)) stop(sprintf("no environment variable '%s' in the contract", key))
  value <- Sys.getenv(name, unset = "")
  if (identical(value, "")) default else value
}

contract_env_name <- function(contract, key) {
  name <- contract$env[[key]]
  if (is.null(name)) stop(sprintf("no environment variable '%s' in the contract", key))
  name
}

contract_env_number <- function(contract, key, default) {
  raw <- contract_env(contract, key, default = NA_character_)
  if (is.na(raw)) return(default)
  value <- suppressWarnings(as.numeric(raw))
  if (is.na(value)) {
    stop(config_error(sprintf("%s must be a number, got '%s'", contract_env_name(contract, key), raw)))
  }
  value
}

# A setting that is wrong: retrying cannot fix it, so the programs exit with the contract's
# configuration-error code and the training Job's podFailurePolicy fails at once.
config_error <- function(message, class = character()) {
  structure(class = c(class, "config_error", "error", "condition"), list(message = message, call = NULL))
}
