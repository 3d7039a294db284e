# Sources the R modules from r/R into the test environment.
r_root <- normalizePath(file.path(testthat::test_path(), "..", ".."))
sys.source(file.path(r_root, "R", "load_all.R"), envir = environment())
load_rmlops(file.path(r_root, "R"), envir = globalenv())
test_contract <- read_contract(file.path(r_root, "contract.json"))
