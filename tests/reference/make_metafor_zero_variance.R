#!/usr/bin/env Rscript
# Reference values for validation/stats/heterogeneity.py when a group has sampling variance 0
# (e.g. a site with AUC 1 and DeLong variance 0), as metafor 3.8 has it (REQ-STAT-EDGE):
#   * REML estimates tau2 > 0 and pools with weights 1/(vi + tau2), but does not compute Q, I^2 or
#     H^2 (warning "Cannot compute Q-test, I^2, or H^2 when there are non-positive sampling
#     variances in the data");
#   * REML whose tau2 estimate is 0 stops: "Division by zero when computing the inverse variance
#     weights";
#   * DL refuses: "DL estimator cannot be used when there are non-positive sampling variances";
#   * FE stops: "Division by zero when computing the inverse variance weights".
# Run from the repository root:  Rscript tests/reference/make_metafor_zero_variance.R
# Writes tests/reference/metafor_zero_variance.json. Needs r-cran-metafor, r-cran-jsonlite.
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })

fit <- function(yi, vi, method) {
  call <- if (method == "REML")
    'rma(yi, vi, method = "REML", control = list(threshold = 1e-12, maxiter = 1000))'
  else sprintf('rma(yi, vi, method = "%s")', method)
  ctrl <- if (method == "REML") list(threshold = 1e-12, maxiter = 1000) else list()
  warnings <- character(0)
  r <- withCallingHandlers(
    tryCatch(rma(yi = yi, vi = vi, method = method, control = ctrl), error = function(e) e),
    warning = function(w) { warnings <<- c(warnings, conditionMessage(w)); invokeRestart("muffleWarning") })
  if (inherits(r, "error"))
    return(list(r_call = call, error = conditionMessage(r), warnings = warnings))
  list(r_call = call, warnings = warnings, tau2 = r$tau2, estimate = as.numeric(r$b), se = r$se,
       ci_low = r$ci.lb, ci_high = r$ci.ub, q = if (is.na(r$QE)) NULL else r$QE,
       i2 = if (is.na(r$I2)) NULL else r$I2, restricted_loglik = as.numeric(logLik(r)))
}

entry <- function(name, description, yi, vi) {
  list(name = name, description = description, yi = yi, vi = vi,
       REML = fit(yi, vi, "REML"), DL = fit(yi, vi, "DL"), FE = fit(yi, vi, "FE"))
}

datasets <- list(
  entry("auc_one_site_perfect", "per-site AUC, one site AUC 1 with DeLong variance 0",
        c(1.0, 0.82, 0.74, 0.88), c(0, 0.0016, 0.0025, 0.0012)),
  entry("two_zero_one_positive", "two sites with variance 0, one with a positive variance",
        c(0.9, 0.8, 0.85), c(0, 0, 0.001)),
  entry("zero_variance_tau2_zero", "REML tau2 estimate 0 with a zero variance: metafor stops",
        c(0.80, 0.82, 0.81), c(0, 0.0016, 0.0025))
)
out <- list(generator = "tests/reference/make_metafor_zero_variance.R", r_version = R.version.string,
            packages = list(metafor = as.character(packageVersion("metafor"))), datasets = datasets)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           "tests/reference/metafor_zero_variance.json")
