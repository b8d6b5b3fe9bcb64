#!/bin/sh
# Deterministic synthetic transactions: gen_transactions.sh ROWS OUT.csv [SEED]
# Same arguments, same bytes (awk's srand with a fixed seed).
set -eu
rows=${1:?rows}
out=${2:?output file}
seed=${3:-42}
mkdir -p "$(dirname "$out")"
awk -v rows="$rows" -v seed="$seed" 'BEGIN {
  srand(seed)
  split("US DE FR GB ES IT NL PL SE JP", countries, " ")
  split("grocery travel fuel electronics dining", cats, " ")
  print "txn_id,user_id,ts,amount,merchant_category,country,is_fraud"
  for (i = 1; i <= rows; i++) {
    user = int(rand() * 1000)
    amount = sprintf("%.2f", exp(rand() * 6))
    if (rand() < 0.02) amount = ""
    country = countries[1 + int(rand() * 10)]
    fraud = (rand() < 0.013) ? 1 : 0
    printf "%d,%d,2026-01-%02dT%02d:%02d:00Z,%s,%s,%s,%d\n", i, user, 1 + i % 28, i % 24, i % 60, amount, cats[1 + int(rand() * 5)], country, fraud
  }
}' > "$out.tmp"
mv "$out.tmp" "$out"
