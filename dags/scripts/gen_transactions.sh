#!/bin/sh
# Deterministic synthetic card transactions: gen_transactions.sh ROWS OUT.csv [SEED] [SCALE]
# (SCALE multiplies every amount: 1, the default, is the training feed; the
# monitoring example uses more to make today's feed drift).
# Same arguments and awk, same bytes (awk's srand with a fixed seed). Like
# real feeds it is not clean: ~2% of amounts and ~1% of countries are empty,
# ~0.3% of amounts are negative (refunds booked wrongly), ~0.1% are above
# 10,000, and ~0.5% of lines are repeated. Fraud is rarer than 2% and likelier
# for large amounts, risky merchant categories and at night.
set -eu
rows=${1:?rows}
out=${2:?output file}
seed=${3:-42}
scale=${4:-1}
mkdir -p "$(dirname "$out")"
awk -v rows="$rows" -v seed="$seed" -v scale="$scale" 'BEGIN {
  srand(seed)
  split("US DE FR GB ES IT NL PL SE JP", countries, " ")
  split("grocery dining fuel travel electronics online_retail gift_cards crypto_exchange", cats, " ")
  split("-1.0 -0.8 -0.6 0.3 0.6 0.2 1.8 2.0", risk, " ")
  split("3.4 3.3 3.7 5.8 5.2 3.9 4.3 5.5", logmu, " ")
  split("mobile desktop pos atm tablet", devices, " ")
  print "txn_id,user_id,ts,amount,merchant_category,country,device,is_fraud"
  t = 1767225600  # 2026-01-01T00:00:00Z
  line = ""
  for (i = 1; i <= rows; i++) {
    if (line != "" && rand() < 0.005) { print line; continue }
    t += int(rand() * 120)
    u = rand()
    user = int(u * u * 2000)          # some users are far more active
    c = 1 + int(rand() * rand() * 8)  # everyday categories are commoner
    amount = exp(logmu[c] + (rand() + rand() + rand() - 1.5) * 1.2) * scale
    r = rand()
    if (r < 0.003) amount = -amount
    else if (r < 0.004) amount = 10000 + amount * 20
    hour = int((t % 86400) / 3600)
    score = -5 + risk[c] + (amount > 1000 ? 1.5 : 0) + (hour < 5 ? 1 : 0)
    fraud = (rand() < 1 / (1 + exp(-score))) ? 1 : 0
    a = (rand() < 0.02) ? "" : sprintf("%.2f", amount)
    country = (rand() < 0.01) ? "" : countries[1 + int(rand() * rand() * 10)]
    ts = strftime("%Y-%m-%dT%H:%M:%SZ", t, 1)
    line = sprintf("%d,%d,%s,%s,%s,%s,%s,%d", i, user, ts, a, cats[c], country, devices[1 + int(rand() * 5)], fraud)
    print line
  }
}' > "$out.tmp"
mv "$out.tmp" "$out"
