#!/usr/bin/env Rscript
# Reference values for validation/stats/heterogeneity.py (REQ-STAT-HET).
# Run from the repository root:  Rscript tests/reference/make_metafor.R
# Writes tests/reference/metafor.json: each dataset (yi, vi) with metafor::rma results for
# method = "REML" and "DL" (and "FE" for the fixed-effect pooled estimate), the R call beside each.
# REML is run with a tight convergence threshold so that the fixture holds the maximiser to ~1e-10.
# Needs metafor and jsonlite (Debian: r-cran-metafor, r-cran-jsonlite).
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })

fit <- function(yi, vi, method) {
  ctrl <- if (method == "REML") list(threshold = 1e-12, maxiter = 1000) else list()
  r <- rma(yi = yi, vi = vi, method = method, control = ctrl)
  call <- if (method == "REML")
    'rma(yi, vi, method = "REML", control = list(threshold = 1e-12, maxiter = 1000))'
  else sprintf('rma(yi, vi, method = "%s")', method)
  list(r_call = call, q = r$QE, df = r$k - 1, p_value = r$QEp, i2 = r$I2, tau2 = r$tau2,
       h2 = r$H2, estimate = as.numeric(r$b), se = r$se, ci_low = r$ci.lb, ci_high = r$ci.ub,
       restricted_loglik = if (method == "REML") as.numeric(logLik(r)) else NULL)
}

entry <- function(name, description, data_call, yi, vi) {
  list(name = name, description = description, data_call = data_call,
       yi = as.numeric(yi), vi = as.numeric(vi),
       REML = fit(yi, vi, "REML"), DL = fit(yi, vi, "DL"), FE = fit(yi, vi, "FE"))
}

logit_entry <- function(name, description, xi, ni) {
  es <- escalc(measure = "PLO", xi = xi, ni = ni)
  e <- entry(name, description,
             sprintf('escalc(measure = "PLO", xi = c(%s), ni = c(%s))',
                     paste(xi, collapse = ", "), paste(ni, collapse = ", ")),
             es$yi, es$vi)
  e$xi <- xi; e$ni <- ni
  e
}

datasets <- list(
  logit_entry("logit_sensitivity_6_sites", "per-site sensitivity, logit scale, heterogeneous",
              c(40, 18, 55, 9, 30, 21), c(45, 25, 60, 16, 33, 30)),
  entry("auc_5_sites", "per-site AUC with DeLong variances",
        "yi <- c(0.86, 0.79, 0.91, 0.74, 0.83); vi <- c(0.031, 0.045, 0.022, 0.060, 0.038)^2",
        c(0.86, 0.79, 0.91, 0.74, 0.83), c(0.031, 0.045, 0.022, 0.060, 0.038)^2),
  entry("homogeneous_tau2_zero", "Q < df: tau2 = 0 under both methods",
        "yi <- c(0.10, 0.12, 0.09, 0.11); vi <- c(0.01, 0.02, 0.015, 0.012)",
        c(0.10, 0.12, 0.09, 0.11), c(0.01, 0.02, 0.015, 0.012)),
  entry("two_groups", "k = 2", "yi <- c(-0.3, 0.4); vi <- c(0.04, 0.09)",
        c(-0.3, 0.4), c(0.04, 0.09)),
  logit_entry("bimodal_reml_interior_global",
              "logit sensitivities whose REML likelihood has a local max at 0 and the global max inside",
              c(101, 137, 1), c(145, 194, 10)),
  logit_entry("bimodal_reml_boundary_global",
              "logit sensitivities whose REML likelihood has the global max at 0 and a local max inside",
              c(19, 60, 109), c(20, 102, 190))
)

out <- list(generator = "tests/reference/make_metafor.R", r_version = R.version.string,
            packages = list(metafor = as.character(packageVersion("metafor")),
                            jsonlite = as.character(packageVersion("jsonlite"))),
            datasets = datasets)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/metafor.json")
