#!/usr/bin/env Rscript
# Reference values for validation/stats/calibration.py (REQ-STAT-CAL).
# Run from the repository root:  Rscript tests/reference/make_calibration.R
# Writes tests/reference/calibration.json: every dataset (y, p) and, beside each value, the R call
# that produced it. Needs rms and jsonlite (Debian: r-cran-rms, r-cran-jsonlite).
#
# ResourceSelection is not packaged in Debian, so hoslem.test (version 0.3-6) is reproduced below
# from its published source/algorithm: unique type-7 quantile breaks, cut(right-closed,
# include.lowest), chi-square over both outcome columns, df = (number of non-empty groups) - 2.
# E50 is not reported by rms::val.prob; it is computed with val.prob's own smoother
# (lowess(p, y, iter = 0) then approx(..., ties = mean)) and quantile(type 7), as E90 is.
suppressPackageStartupMessages({ library(rms); library(jsonlite) })

hoslem_test_0.3_6 <- function(x, y, g = 10) {   # x = outcomes 0/1, y = fitted probabilities
  yhat <- y; y <- x
  qq <- unique(quantile(yhat, probs = seq(0, 1, 1 / g)))
  cutyhat <- cut(yhat, breaks = qq, include.lowest = TRUE)
  observed <- xtabs(cbind(y0 = 1 - y, y1 = y) ~ cutyhat)
  expected <- xtabs(cbind(yhat0 = 1 - yhat, yhat1 = yhat) ~ cutyhat)
  chisq <- sum((observed - expected)^2 / expected)
  G <- length(unique(cutyhat))
  list(statistic = unname(chisq), df = G - 2, p.value = 1 - pchisq(chisq, G - 2))
}

ece_10 <- function(y, p) {   # bin k holds k/10 <= p < (k+1)/10 via floor(10 p); p = 1 in bin 9
  b <- pmin(floor(p * 10), 9)
  sum(tapply(seq_along(p), b, function(i) abs(sum(p[i]) - sum(y[i])))) / length(p)
}

tight <- glm.control(epsilon = 1e-14, maxit = 100)   # converge fully (default 1e-8 leaves ~1e-6 in se)

wald <- function(fit, term) {
  s <- summary(fit)$coefficients
  ci <- confint.default(fit, level = 0.95)[term, ]
  list(estimate = unname(s[term, "Estimate"]), se = unname(s[term, "Std. Error"]),
       ci_low = unname(ci[1]), ci_high = unname(ci[2]))
}

reference <- function(name, description, data_call, y, p) {
  vp <- val.prob(p, y, pl = FALSE)
  Sm <- lowess(p, y, iter = 0)
  er <- abs(p - approx(Sm, xout = p, ties = mean)$y)
  f0 <- glm(y ~ 1, offset = qlogis(p), family = binomial, control = tight)
  f1 <- glm(y ~ qlogis(p), family = binomial, control = tight)
  hl <- hoslem_test_0.3_6(y, p, g = 10)
  v <- function(value, call) list(value = unname(value), r_call = call)
  list(
    name = name, description = description, data_call = data_call, y = y, p = p,
    values = list(
      brier = v(vp["Brier"], 'rms::val.prob(p, y, pl = FALSE)["Brier"]'),
      ici = v(vp["Eavg"], 'rms::val.prob(p, y, pl = FALSE)["Eavg"]'),
      e90 = v(vp["E90"], 'rms::val.prob(p, y, pl = FALSE)["E90"]'),
      emax = v(vp["Emax"], 'rms::val.prob(p, y, pl = FALSE)["Emax"]'),
      spiegelhalter_z = v(vp["S:z"], 'rms::val.prob(p, y, pl = FALSE)["S:z"]'),
      spiegelhalter_p = v(vp["S:p"], 'rms::val.prob(p, y, pl = FALSE)["S:p"]'),
      e50 = v(quantile(er, 0.5),
              'quantile(abs(p - approx(lowess(p, y, iter = 0), xout = p, ties = mean)$y), 0.5)'),
      lowess_at_p = v(approx(Sm, xout = p, ties = mean)$y,
                      'approx(lowess(p, y, iter = 0), xout = p, ties = mean)$y'),
      intercept = c(wald(f0, "(Intercept)"), r_call =
        'glm(y ~ 1, offset = qlogis(p), family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100)); coef, Std. Error, confint.default'),
      slope = c(wald(f1, "qlogis(p)"), r_call =
        'glm(y ~ qlogis(p), family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100)); coef, Std. Error, confint.default'),
      hosmer_lemeshow = c(hl, r_call =
        'ResourceSelection 0.3-6 hoslem.test(y, p, g = 10), reproduced in base R (see script)'),
      ece = v(ece_10(y, p), 'sum over bins floor(10 p) (p = 1 in last) of |sum(p) - sum(y)| / n')
    ))
}

datasets <- list()
set.seed(20240601)
lp <- rnorm(400, -0.5, 1.2); p <- round(plogis(lp), 6); y <- rbinom(400, 1, plogis(0.6 + 0.5 * lp))
datasets[[1]] <- reference("miscalibrated", "n=400, true intercept 0.6 and slope 0.5 on logit(p)",
  "set.seed(20240601); lp <- rnorm(400, -0.5, 1.2); p <- round(plogis(lp), 6); y <- rbinom(400, 1, plogis(0.6 + 0.5 * lp))",
  y, p)

set.seed(7)
p <- round(plogis(rnorm(60, -2.5, 1)), 6); y <- integer(60); y[sample(60, 5, prob = p)] <- 1L
datasets[[2]] <- reference("small_5_positives", "n=60 with exactly 5 positives",
  "set.seed(7); p <- round(plogis(rnorm(60, -2.5, 1)), 6); y <- integer(60); y[sample(60, 5, prob = p)] <- 1L",
  y, p)

set.seed(3000)
lp <- rnorm(3000, -1, 1.5); p <- round(plogis(lp), 6); y <- rbinom(3000, 1, p)
datasets[[3]] <- reference("large_calibrated", "n=3000 drawn from the predictions themselves",
  "set.seed(3000); lp <- rnorm(3000, -1, 1.5); p <- round(plogis(lp), 6); y <- rbinom(3000, 1, p)",
  y, p)

set.seed(11)
p <- round(runif(250, 0.05, 0.95), 1); y <- rbinom(250, 1, p)
datasets[[4]] <- reference("ties_in_p", "n=250, p on a 0.1 grid: many ties, duplicate HL breaks",
  "set.seed(11); p <- round(runif(250, 0.05, 0.95), 1); y <- rbinom(250, 1, p)", y, p)

set.seed(12)
p <- round(c(rep(0.35, 150), runif(60, 0.05, 0.95)), 6); y <- rbinom(210, 1, p)
datasets[[5]] <- reference("heavy_ties", "n=210, 150 cases share p = 0.35: zero-width lowess windows",
  "set.seed(12); p <- round(c(rep(0.35, 150), runif(60, 0.05, 0.95)), 6); y <- rbinom(210, 1, p)",
  y, p)

# A subgroup with no positives: rms::val.prob stops with an error (lrm.fit), and glm() returns a
# huge negative "intercept" with the warning "fitted probabilities numerically 0 or 1" although
# the MLE does not exist. The statistics that remain defined are reproduced here in base R with
# val.prob's own formulas (Brier; lowess errors; its internal Spi function for Spiegelhalter).
set.seed(5)
p0 <- round(plogis(rnorm(40, -2, 1)), 6); y0 <- integer(40)
Sm0 <- lowess(p0, y0, iter = 0)
er0 <- abs(p0 - approx(Sm0, xout = p0, ties = mean)$y)
z0 <- sum((y0 - p0) * (1 - 2 * p0)) / sqrt(sum((1 - 2 * p0)^2 * p0 * (1 - p0)))
no_positives <- list(
  name = "no_positives", data_call = "set.seed(5); p <- round(plogis(rnorm(40, -2, 1)), 6); y <- integer(40)",
  y = y0, p = p0,
  val_prob_error = conditionMessage(tryCatch(val.prob(p0, y0, pl = FALSE), error = function(e) e)),
  glm_intercept_not_an_mle = unname(coef(suppressWarnings(glm(y0 ~ 1, offset = qlogis(p0), family = binomial)))),
  values = list(
    brier = list(value = mean((p0 - y0)^2), r_call = "mean((p - y)^2)"),
    ici = list(value = mean(er0), r_call = "mean(abs(p - approx(lowess(p, y, iter = 0), xout = p, ties = mean)$y))"),
    e90 = list(value = unname(quantile(er0, 0.9)), r_call = "quantile(<same errors>, 0.9)"),
    emax = list(value = max(er0), r_call = "max(<same errors>)"),
    spiegelhalter_z = list(value = z0, r_call = "sum((y - p) * (1 - 2 * p)) / sqrt(sum((1 - 2 * p)^2 * p * (1 - p))) (val.prob's Spi)"),
    spiegelhalter_p = list(value = 2 * pnorm(-abs(z0)), r_call = "2 * pnorm(-abs(z))")))

# Net benefit (Vickers & Elkin 2006) with the formula of dcurves::dca(), written in base R
# (dcurves is not packaged in Debian): treated when p >= threshold.
thresholds <- seq(0, 0.95, by = 0.05)
d1 <- datasets[[1]]
nb_model <- sapply(thresholds, function(t)
  mean(d1$y == 1 & d1$p >= t) - mean(d1$y == 0 & d1$p >= t) * t / (1 - t))
prev <- mean(d1$y)
nb_all <- prev - (1 - prev) * thresholds / (1 - thresholds)

out <- list(
  no_positives = no_positives,
  net_benefit = list(
    dataset = d1$name, thresholds = thresholds, model = nb_model, all = nb_all,
    r_call = paste("sapply(seq(0, 0.95, by = 0.05), function(t) mean(y == 1 & p >= t) -",
                   "mean(y == 0 & p >= t) * t / (1 - t)); all: prev - (1 - prev) * t / (1 - t)")),
  generator = "tests/reference/make_calibration.R",
  r_version = R.version.string,
  packages = list(rms = as.character(packageVersion("rms")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  datasets = datasets)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/calibration.json")
