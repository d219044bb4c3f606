# Reference fixtures for validation.stats.roc / comparison / classification.
#
# Run from the repository root:  Rscript tests/reference/make_pROC.R
# Needs R >= 4 with pROC (>= 1.16), psych and jsonlite (Debian: r-cran-proc, r-cran-psych,
# r-cran-jsonlite). Writes, next to this script:
#   proc_auc.json             pROC::auc / ci.auc(method = "delong") / var on fixed datasets,
#                             plus a base-R transcription of Obuchowski (1997) for clustered data
#   proc_compare.json         pROC::roc.test(paired = TRUE, method = "delong")
#   proc_classification.json  binom.test, prop.test, Jeffreys/Agresti-Coull by their formulas,
#                             mcnemar.test, psych::cohen.kappa
# Every dataset is generated here from a fixed seed and stored IN the JSON, so the Python tests
# read exactly the data R saw. Every value is stored beside the R call that produced it.
# CI has no R: this script runs once and its JSON output is committed.

suppressMessages({
  library(pROC)
  library(psych)
  library(jsonlite)
})

out_dir <- local({
  args <- commandArgs(trailingOnly = FALSE)
  file <- sub("^--file=", "", args[grep("^--file=", args)])
  if (length(file) == 1) dirname(normalizePath(file)) else "tests/reference"
})

write_fixture <- function(x, name) {
  path <- file.path(out_dir, name)
  tmp <- paste0(path, ".tmp")
  # jsonlite writes at most 15 significant digits: data are rounded (6 decimals) before use,
  # so the JSON holds exactly the data R saw; results carry ~1e-15 relative rounding.
  writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null",
                    null = "null"), tmp)
  file.rename(tmp, path)
  cat("wrote", path, "\n")
}

meta <- list(
  generator = "tests/reference/make_pROC.R",
  R = R.version.string,
  pROC = as.character(packageVersion("pROC")),
  psych = as.character(packageVersion("psych"))
)

# ---------------------------------------------------------------- datasets (seeded) ----------
set.seed(20240501)
binormal <- function(n_pos, n_neg, delta) {
  y <- c(rep(1, n_pos), rep(0, n_neg))
  s <- round(c(rnorm(n_pos, delta), rnorm(n_neg, 0)), 6)  # 6 decimals: exact in JSON
  perm <- sample.int(length(y))
  list(y = y[perm], s = s[perm])
}

ds <- list()
ds$ties <- local({ d <- binormal(25, 35, 1); d$s <- round(d$s); d })       # heavy ties
ds$n60_5pos <- binormal(5, 55, 1.2)
ds$miscalibrated <- local({ d <- binormal(40, 60, 0.8); d$s <- round(plogis(d$s)^6, 8); d })
ds$perfect <- list(y = c(0, 0, 0, 0, 1, 1, 1), s = c(0.1, 0.2, 0.2, 0.3, 0.5, 0.8, 0.9))
ds$inverted <- local({ d <- binormal(30, 30, -0.7); d })                 # AUC < 0.5
ds$constant <- list(y = c(0, 1, 0, 1, 1, 0), s = rep(0.42, 6))
ds$one_positive <- list(y = c(0, 0, 0, 1, 0, 0, 0, 0), s = c(.1, .5, .3, .7, .2, .9, .4, .6))
ds$two_positives <- list(y = c(0, 0, 0, 1, 0, 0, 1), s = c(.1, .2, .3, .4, .3, .5, .9))
ds$large <- local({ d <- binormal(1200, 2800, 1); d$s <- round(d$s, 2); d })
ds$all_negative <- list(y = rep(0, 6), s = c(.1, .2, .3, .4, .5, .6))

auc_record <- function(name, d) {
  rec <- list(name = name, y = d$y, s = d$s)
  fit <- try(roc(d$y, d$s, levels = c(0, 1), direction = "<", quiet = TRUE), silent = TRUE)
  if (inherits(fit, "try-error")) {
    rec$calls <- list(roc = 'roc(y, s, levels = c(0, 1), direction = "<")')
    rec$r_error <- trimws(as.character(fit))
    return(rec)
  }
  ci <- suppressWarnings(ci.auc(fit, method = "delong", conf.level = 0.95))
  ci90 <- suppressWarnings(ci.auc(fit, method = "delong", conf.level = 0.90))
  v <- suppressWarnings(var(fit, method = "delong"))
  rec$calls <- list(
    auc = 'as.numeric(auc(roc(y, s, levels = c(0, 1), direction = "<")))',
    ci95 = 'as.numeric(ci.auc(r, method = "delong", conf.level = 0.95))[c(1, 3)]',
    ci90 = 'as.numeric(ci.auc(r, method = "delong", conf.level = 0.90))[c(1, 3)]',
    var = 'var(r, method = "delong")'
  )
  rec$auc <- as.numeric(auc(fit))
  rec$ci95 <- as.numeric(ci)[c(1, 3)]
  rec$ci90 <- as.numeric(ci90)[c(1, 3)]
  rec$var <- as.numeric(v)
  rec
}

# Obuchowski (1997) clustered AUC variance, transcribed in base R from the paper's formulas
# (an independent second implementation: pROC has no clustered method).
obuchowski_cov <- function(y, s1, s2, cl) {
  kern <- function(x, yy) (x > yy) + 0.5 * (x == yy)
  comps <- function(s) {
    X <- s[y == 1]; Y <- s[y == 0]
    v10 <- sapply(X, function(x) mean(kern(x, Y)))
    v01 <- sapply(Y, function(yy) mean(kern(X, yy)))
    list(theta = mean(v10), v10 = v10, v01 = v01)
  }
  A <- comps(s1); B <- comps(s2)
  ids <- sort(unique(cl))
  cp <- factor(cl[y == 1], levels = ids); cn <- factor(cl[y == 0], levels = ids)
  m <- as.numeric(table(cp)); n <- as.numeric(table(cn))
  M <- sum(m); N <- sum(n); I <- length(ids); I10 <- sum(m > 0); I01 <- sum(n > 0)
  dX <- function(C) as.numeric(tapply(C$v10, cp, sum, default = 0)) - m * C$theta
  dY <- function(C) as.numeric(tapply(C$v01, cn, sum, default = 0)) - n * C$theta
  cv <- function(P, Q) {
    S10 <- I10 / ((I10 - 1) * M) * sum(dX(P) * dX(Q))
    S01 <- I01 / ((I01 - 1) * N) * sum(dY(P) * dY(Q))
    S11pq <- I / (I - 1) * sum(dX(P) * dY(Q))
    S11qp <- I / (I - 1) * sum(dX(Q) * dY(P))
    S10 / M + S01 / N + (S11pq + S11qp) / (M * N)
  }
  list(auc_a = A$theta, auc_b = B$theta, var_a = cv(A, A), var_b = cv(B, B), cov_ab = cv(A, B))
}

clustered <- local({
  n_pat <- 40
  size <- sample(1:4, n_pat, replace = TRUE)
  pid <- rep(sprintf("P%02d", seq_len(n_pat)), size)
  frailty <- rep(rnorm(n_pat, 0, 0.8), size)
  prev <- rep(runif(n_pat, 0.2, 0.7), size)
  y <- as.numeric(runif(length(pid)) < prev)
  s1 <- round(frailty + 1.1 * y + rnorm(length(pid)), 1)
  s2 <- round(0.6 * frailty + 0.7 * y + rnorm(length(pid)), 1)
  list(y = y, s1 = s1, s2 = s2, cluster = pid)
})
clustered_ref <- obuchowski_cov(clustered$y, clustered$s1, clustered$s2, clustered$cluster)

write_fixture(list(
  meta = meta,
  datasets = unname(Map(auc_record, names(ds), ds)),
  clustered = list(
    data = clustered,
    calls = list(
      all = "obuchowski_cov(y, s1, s2, cluster)  # base-R transcription in make_pROC.R"
    ),
    values = clustered_ref
  )
), "proc_auc.json")

# ---------------------------------------------------------------- paired comparison ----------
paired_ds <- list()
paired_ds$small <- list(
  y = c(0, 0, 1, 1, 0, 1, 0, 1, 1, 0),
  a = c(.1, .4, .35, .8, .2, .7, .5, .3, .9, .6),
  b = c(.2, .3, .5, .6, .1, .9, .4, .2, .7, .8)
)
paired_ds$ties <- local({
  n <- 90; y <- as.numeric(runif(n) < 0.4); z <- rnorm(n)
  list(y = y, a = round(z + y + rnorm(n, 0, 0.5)), b = round(0.5 * z + 0.6 * y + rnorm(n), 1))
})
paired_ds$b_better <- local({
  n <- 150; y <- as.numeric(runif(n) < 0.3); z <- rnorm(n)
  list(y = y, a = round(z + 0.4 * y + rnorm(n), 6), b = round(z + 1.5 * y + rnorm(n, 0, 0.5), 6))
})
paired_ds$large <- local({
  n <- 2500; y <- as.numeric(runif(n) < 0.35); z <- rnorm(n)
  list(y = y, a = round(z + 1.0 * y + rnorm(n), 2), b = round(z + 0.8 * y + rnorm(n, 0, 0.7), 2))
})

paired_record <- function(name, d) {
  r1 <- roc(d$y, d$a, levels = c(0, 1), direction = "<", quiet = TRUE)
  r2 <- roc(d$y, d$b, levels = c(0, 1), direction = "<", quiet = TRUE)
  t95 <- roc.test(r1, r2, paired = TRUE, method = "delong", conf.level = 0.95)
  t90 <- roc.test(r1, r2, paired = TRUE, method = "delong", conf.level = 0.90)
  list(
    name = name, y = d$y, a = d$a, b = d$b,
    calls = list(
      test = 'roc.test(roc(y, a, levels = c(0, 1), direction = "<"), roc(y, b, levels = c(0, 1), direction = "<"), paired = TRUE, method = "delong", conf.level = 0.95)',
      z = "unname(t$statistic)", p = "t$p.value", ci95 = "as.numeric(t$conf.int)",
      ci90 = "as.numeric(roc.test(..., conf.level = 0.90)$conf.int)",
      auc = "unname(t$estimate)"
    ),
    auc_a = unname(t95$estimate[1]), auc_b = unname(t95$estimate[2]),
    z = unname(t95$statistic), p = t95$p.value,
    ci95 = as.numeric(t95$conf.int), ci90 = as.numeric(t90$conf.int)
  )
}
write_fixture(list(meta = meta, datasets = unname(Map(paired_record, names(paired_ds), paired_ds))),
              "proc_compare.json")

# ---------------------------------------------------------------- classification -------------
prop_record <- function(k, n, conf) {
  z <- qnorm(1 - (1 - conf) / 2)
  nt <- n + z^2; pt <- (k + z^2 / 2) / nt
  ac <- pt + c(-1, 1) * z * sqrt(pt * (1 - pt) / nt)
  list(
    k = k, n = n, confidence = conf,
    calls = list(
      wilson = "as.numeric(prop.test(k, n, conf.level = conf, correct = FALSE)$conf.int)",
      `clopper-pearson` = "as.numeric(binom.test(k, n, conf.level = conf)$conf.int)",
      jeffreys = "qbeta(c(a/2, 1 - a/2), k + 0.5, n - k + 0.5)  # a = 1 - conf, no boundary rule",
      `agresti-coull` = "nt <- n + z^2; pt <- (k + z^2/2)/nt; pmin(pmax(pt + c(-1, 1)*z*sqrt(pt*(1 - pt)/nt), 0), 1)"
    ),
    wilson = as.numeric(suppressWarnings(prop.test(k, n, conf.level = conf, correct = FALSE))$conf.int),
    `clopper-pearson` = as.numeric(binom.test(k, n, conf.level = conf)$conf.int),
    jeffreys = qbeta(c((1 - conf) / 2, 1 - (1 - conf) / 2), k + 0.5, n - k + 0.5),
    `agresti-coull` = pmin(pmax(ac, 0), 1)
  )
}
props <- list(
  prop_record(0, 10, 0.95), prop_record(1, 10, 0.95), prop_record(5, 10, 0.95),
  prop_record(10, 10, 0.95), prop_record(17, 60, 0.95), prop_record(45, 50, 0.90),
  prop_record(3, 1000, 0.99), prop_record(412, 500, 0.95)
)

mcn_ds <- list(
  list(name = "moderate", a = as.numeric(runif(120) < 0.8), b = NULL),
  list(name = "few_discordant", a = c(rep(1, 20), 1, 1, 1, 0, 0), b = c(rep(1, 20), 0, 0, 0, 1, 0))
)
mcn_ds[[1]]$b <- ifelse(runif(120) < 0.2, 1 - mcn_ds[[1]]$a, mcn_ds[[1]]$a)
mcn_record <- function(d) {
  tab <- table(factor(d$a, levels = c(0, 1)), factor(d$b, levels = c(0, 1)))
  b <- tab["1", "0"]; c <- tab["0", "1"]
  mc <- mcnemar.test(tab, correct = TRUE); mu <- mcnemar.test(tab, correct = FALSE)
  bt <- binom.test(b, b + c, 0.5)
  list(
    name = d$name, a = d$a, b = d$b,
    calls = list(
      corrected = "mcnemar.test(table(factor(a, 0:1), factor(b, 0:1)), correct = TRUE)",
      uncorrected = "mcnemar.test(table(factor(a, 0:1), factor(b, 0:1)), correct = FALSE)",
      exact = "binom.test(b, b + c, 0.5)  # b = #(a = 1, b = 0), c = #(a = 0, b = 1)"
    ),
    corrected = list(statistic = unname(mc$statistic), p = mc$p.value),
    uncorrected = list(statistic = unname(mu$statistic), p = mu$p.value),
    exact = list(statistic = unname(bt$statistic), p = bt$p.value)
  )
}

kappa_ds <- list(
  three_categories = local({
    a <- sample(c("neg", "low", "pos"), 150, replace = TRUE, prob = c(.5, .3, .2))
    b <- ifelse(runif(150) < 0.7, a, sample(c("neg", "low", "pos"), 150, replace = TRUE))
    list(a = a, b = b)
  }),
  binary = local({
    a <- as.numeric(runif(80) < 0.4)
    list(a = a, b = ifelse(runif(80) < 0.15, 1 - a, a))
  })
)
kappa_record <- function(name, d) {
  ck <- cohen.kappa(cbind(d$a, d$b), alpha = 0.05)
  list(
    name = name, a = d$a, b = d$b,
    calls = list(
      kappa = "psych::cohen.kappa(cbind(a, b), alpha = 0.05)$kappa",
      var = "psych::cohen.kappa(cbind(a, b))$var.kappa",
      ci95 = "psych::cohen.kappa(cbind(a, b), alpha = 0.05)$confid[1, c(1, 3)]"
    ),
    kappa = ck$kappa, var = ck$var.kappa, ci95 = unname(ck$confid[1, c(1, 3)])
  )
}

write_fixture(list(
  meta = meta,
  proportions = props,
  mcnemar = lapply(mcn_ds, mcn_record),
  kappa = unname(Map(kappa_record, names(kappa_ds), kappa_ds))
), "proc_classification.json")
