library(testthat)
library(rmlops)

test_check("rmlops")
