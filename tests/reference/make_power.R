# Reference fixtures for validation.stats.power (planned sample size).
#
# Run from the repository root:  Rscript tests/reference/make_power.R
# Needs R >= 4 with pROC (>= 1.16) and jsonlite (Debian: r-cran-proc, r-cran-jsonlite). Writes
# power.json next to this script. CI has no R: this script runs once and its output is committed.
#
#   obuchowski   pROC:::var.theta.obuchowski(theta, kappa)             (the variance function)
#   roc_ncases   pROC::power.roc.test(auc, kappa, sig.level, power, alternative = "one.sided")
#                -> ncases (continuous), tested AUC against 0.5
#   roc_power    pROC::power.roc.test(auc, ncases, ncontrols, sig.level, "one.sided") -> power
#   binomial     base R: smallest n with 1 - pbinom(qbinom(1 - alpha, n, p0), n, p1) >= power
#                (the exact one-sided binomial test), and that power
#   hanley       base R transcription of Hanley & McNeil (1982) variance, solved by uniroot
#   paired       base R transcription of the Obuchowski & McClish (1997) paired difference
#                (no packaged R function takes AUC values for it)

suppressMessages({
  library(pROC)
  library(jsonlite)
})

out_dir <- local({
  args <- commandArgs(trailingOnly = FALSE)
  file <- sub("^--file=", "", args[grep("^--file=", args)])
  if (length(file) == 1) dirname(normalizePath(file)) else "tests/reference"
})

obuchowski <- list()
for (theta in c(0.5, 0.62, 0.7, 0.8, 0.9, 0.95)) for (kappa in c(1, 2.125, 4.88)) {
  obuchowski[[length(obuchowski) + 1]] <- list(
    theta = theta, kappa = kappa, value = pROC:::var.theta.obuchowski(theta, kappa),
    call = sprintf("pROC:::var.theta.obuchowski(%g, %g)", theta, kappa))
}

roc_ncases <- list()
for (auc in c(0.6, 0.7, 0.8, 0.9)) for (kappa in c(1, 4)) for (alpha in c(0.025, 0.05)) {
  r <- power.roc.test(auc = auc, kappa = kappa, sig.level = alpha, power = 0.8,
                      alternative = "one.sided")
  roc_ncases[[length(roc_ncases) + 1]] <- list(
    auc = auc, kappa = kappa, alpha = alpha, power = 0.8, ncases = r$ncases,
    call = sprintf("power.roc.test(auc=%g, kappa=%g, sig.level=%g, power=0.8, alternative='one.sided')$ncases",
                   auc, kappa, alpha))
}

roc_power <- list()
for (auc in c(0.65, 0.75, 0.85)) for (n in c(20, 50)) {
  r <- power.roc.test(auc = auc, ncases = n, ncontrols = 3 * n, sig.level = 0.025,
                      alternative = "one.sided")
  roc_power[[length(roc_power) + 1]] <- list(
    auc = auc, ncases = n, ncontrols = 3 * n, alpha = 0.025, power = r$power,
    call = sprintf("power.roc.test(auc=%g, ncases=%d, ncontrols=%d, sig.level=0.025, alternative='one.sided')$power",
                   auc, n, 3 * n))
}

binomial_n <- function(p0, p1, alpha, target) {
  for (n in 1:100000) {
    k <- qbinom(1 - alpha, n, p0) + 1
    pw <- 1 - pbinom(k - 1, n, p1)
    if (pw >= target) return(list(n = n, power = pw))
  }
}
binomial <- list()
for (case in list(c(0.8, 0.9), c(0.75, 0.85), c(0.8, 0.95), c(0.5, 0.7), c(0.9, 0.97))) {
  for (alpha in c(0.025, 0.05)) {
    r <- binomial_n(case[1], case[2], alpha, 0.8)
    binomial[[length(binomial) + 1]] <- list(
      null = case[1], expected = case[2], alpha = alpha, power = 0.8, n = r$n,
      power_at_n = r$power,
      call = "min n: 1 - pbinom(qbinom(1 - alpha, n, p0), n, p1) >= 0.8")
  }
}

hm_var <- function(A, n1, n0) {
  q1 <- A / (2 - A); q2 <- 2 * A^2 / (1 + A)
  (A * (1 - A) + (n1 - 1) * (q1 - A^2) + (n0 - 1) * (q2 - A^2)) / (n1 * n0)
}
hanley <- list()
for (case in list(c(0.8, 0.9, 4.88), c(0.5, 0.8, 4), c(0.75, 0.85, 1))) {
  A0 <- case[1]; A1 <- case[2]; kappa <- case[3]
  pw <- function(n1) pnorm(((A1 - A0) - qnorm(0.975) * sqrt(hm_var(A0, n1, kappa * n1))) /
                             sqrt(hm_var(A1, n1, kappa * n1)))
  n1 <- uniroot(function(n) pw(n) - 0.8, c(1 + 1e-9, 2e5), tol = 1e-10)$root
  hanley[[length(hanley) + 1]] <- list(null = A0, expected = A1, kappa = kappa, alpha = 0.025,
    power = 0.8, ncases = n1, call = "uniroot of the Hanley-McNeil power = 0.8 (base R)")
}

paired <- list()
for (case in list(c(0.70, 0.62, 0.05, 0.3, 0.32), c(0.85, 0.80, 0.05, 0.5, 0.2),
                  c(0.75, 0.70, 0.0, 0.4, 0.3))) {
  a <- case[1]; b <- case[2]; margin <- case[3]; r <- case[4]; prev <- case[5]
  kappa <- (1 - prev) / prev
  v <- function(t) pROC:::var.theta.obuchowski(t, kappa)
  vd <- function(x, y) v(x) + v(y) - 2 * r * sqrt(v(x) * v(y))
  n1 <- ((qnorm(0.975) * sqrt(vd(b - margin, b)) + qnorm(0.8) * sqrt(vd(a, b))) /
           ((a - b) + margin))^2
  paired[[length(paired) + 1]] <- list(expected = a, comparator = b, margin = margin,
    correlation = r, prevalence = prev, alpha = 0.025, power = 0.8, ncases = n1,
    call = "Obuchowski-McClish paired difference with pROC:::var.theta.obuchowski (base R)")
}

fixture <- list(
  r_version = R.version.string, proc_version = as.character(packageVersion("pROC")),
  obuchowski = obuchowski, roc_ncases = roc_ncases, roc_power = roc_power,
  binomial = binomial, hanley = hanley, paired = paired)
path <- file.path(out_dir, "power.json")
writeLines(toJSON(fixture, auto_unbox = TRUE, digits = NA, pretty = TRUE), paste0(path, ".tmp"))
file.rename(paste0(path, ".tmp"), path)
