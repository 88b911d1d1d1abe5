#!/bin/sh
# Runs Spin on a Promela model: check.sh MODEL.pml WORKDIR expect-pass|expect-violation [spin -D flags]
# expect-pass: exhaustive search, no assertion violation, no invalid end state.
# expect-violation: the search must find an assertion violation (a model of a
# known bug, proving the check can fail).
set -eu
model=$1; work=$2; expect=$3; shift 3
mkdir -p "$work"
cp "$model" "$work/model.pml"
cd "$work"
model=model.pml
spin -a "$@" "$model" >spin.out 2>&1 || { cat spin.out; exit 1; }
cc -O2 -w -DSAFETY -DCOLLAPSE -DVECTORSZ=2048 -o pan pan.c
./pan -m200000 >pan.out 2>&1 || true
cat pan.out | grep -E "errors:|assertion violated|invalid end state|States|state-vector|reached" || true
errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out | head -1)
[ -n "$errors" ] || { echo "no verdict from pan"; cat pan.out; exit 1; }
case "$expect" in
  expect-pass)
    grep -q "search depth too small" pan.out && { echo "FAIL: depth bound hit"; exit 1; }
    [ "$errors" = 0 ] || { echo "FAIL: $errors error(s)"; spin -t -p "$@" "$model" | tail -40; exit 1; }
    echo "PASS: $*" ;;
  expect-violation)
    if [ "$errors" != 0 ] && grep -q "assertion violated" pan.out; then
      echo "PASS: the model finds the bug ($*)"
    else
      echo "FAIL: no violation found with $*"; exit 1
    fi ;;
esac
